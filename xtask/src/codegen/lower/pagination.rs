//! The parameters a pagination style adds to a list tool.

use std::collections::BTreeMap;

use serde_json::json;

use super::super::model::{In, Node, PaginationSpec, Param, Ty};
use super::params::UNIX_SECONDS_MAX;

/// The highest `page` of a page-numbered list.
pub const PAGE_MAX: i64 = 10_000;

/// The parameters a pagination style adds (all `in: query`).
pub fn pagination_params(p: PaginationSpec) -> Vec<Param> {
    let query = |name: &str, node: Node| Param {
        name: name.to_owned(),
        location: In::Query,
        wire: name.to_owned(),
        required: false,
        default_from: None,
        secret: false,
        node,
    };
    let id = |description: &str| Node {
        pattern: Some("^[A-Za-z0-9_]{1,64}$".to_owned()),
        ..Node::new(Ty::String, description)
    };
    let int = |min: i64, max: i64, default: Option<i64>, description: &str| Node {
        minimum: Some(min),
        maximum: Some(max),
        default: default.map(|d| json!(d)),
        ..Node::new(Ty::Integer, description)
    };
    let compact = Param {
        location: In::Local,
        ..query(
            "compact",
            Node::new(
                Ty::Boolean,
                "true: each listed object keeps only its plain fields (text, numbers, true/false); nested objects and lists such as credential, extra, metadata and refunds are left out, so a page costs a fraction of the tokens.",
            ),
        )
    };
    let mut params = match p {
        PaginationSpec::None => return vec![],
        PaginationSpec::Cursor => {
            // The range's description says what each bound means; the bounds repeat nothing.
            let bound = || {
                let node = int(0, UNIX_SECONDS_MAX, None, "");
                (
                    Node {
                        ty: Ty::UnixOrDate,
                        description: None,
                        ..node
                    },
                    false,
                )
            };
            let created = Node {
                properties: Some(BTreeMap::from([
                    ("gt".to_owned(), bound()),
                    ("gte".to_owned(), bound()),
                    ("lt".to_owned(), bound()),
                    ("lte".to_owned(), bound()),
                ])),
                ..Node::new(
                    Ty::Object,
                    "Only objects created in this range: after (gt, gte) and before (lt, lte), each Unix seconds or a Beijing date yyyy-MM-dd ({\"gte\": \"2024-03-01\", \"lte\": \"2024-03-07\"} is the whole week; lte/lt of a date mean up to the end / the start of that day). Without it Ping++ searches only about the last month.",
                )
            };
            vec![
                query("limit", int(1, 100, Some(10), "Page size.")),
                query(
                    "starting_after",
                    id("The previous result's `next_cursor`, for the next page."),
                ),
                query(
                    "ending_before",
                    id("The first id of the current page, for the page before it."),
                ),
                query("created", created),
            ]
        }
        PaginationSpec::Page => vec![
            query("page", int(1, PAGE_MAX, None, "Page number (default 1).")),
            query("per_page", int(1, 100, None, "Page size.")),
        ],
    };
    params.push(compact);
    params
}
