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
            let bound = |d: &str| {
                let node = Node {
                    ty: Ty::UnixOrDate,
                    ..int(0, UNIX_SECONDS_MAX, None, d)
                };
                (node, false)
            };
            let created = Node {
                properties: Some(BTreeMap::from([
                    (
                        "gt".to_owned(),
                        bound(
                            "Created after this Unix time (seconds), or after this Beijing date (yyyy-MM-dd).",
                        ),
                    ),
                    (
                        "gte".to_owned(),
                        bound(
                            "Created at or after this Unix time (seconds), or from this Beijing date on (yyyy-MM-dd).",
                        ),
                    ),
                    (
                        "lt".to_owned(),
                        bound(
                            "Created before this Unix time (seconds), or before this Beijing date (yyyy-MM-dd).",
                        ),
                    ),
                    (
                        "lte".to_owned(),
                        bound(
                            "Created at or before this Unix time (seconds), or up to the end of this Beijing date (yyyy-MM-dd).",
                        ),
                    ),
                ])),
                ..Node::new(
                    Ty::Object,
                    "Only objects created in this range: {gt, gte, lt, lte}, each Unix seconds or a Beijing date yyyy-MM-dd ({\"gte\": \"2024-03-01\", \"lte\": \"2024-03-07\"} is the whole week). Without it Ping++ searches only about the last month.",
                )
            };
            vec![
                query(
                    "limit",
                    int(
                        1,
                        100,
                        Some(10),
                        "How many objects to return, 1-100 (default 10).",
                    ),
                ),
                query(
                    "starting_after",
                    id(
                        "Return the page after this object id: pass the `next_cursor` of the previous result.",
                    ),
                ),
                query(
                    "ending_before",
                    id("Return the page before this object id (the first id of the current page)."),
                ),
                query("created", created),
            ]
        }
        PaginationSpec::Page => vec![
            query(
                "page",
                int(
                    1,
                    PAGE_MAX,
                    None,
                    "Page number, starting at 1 (default 1), at most 10000.",
                ),
            ),
            query("per_page", int(1, 100, None, "Objects per page, 1-100.")),
        ],
    };
    params.push(compact);
    params
}
