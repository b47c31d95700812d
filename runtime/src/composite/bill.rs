//! `alipay.summarize_bill`: the download link (asked again when it expired), the ZIP streamed to
//! a temporary file, one pass over it ([`super::bill_file`]) and the rows offered as a UTF-8 CSV
//! resource — so "summarise yesterday's settlement bill" is one tool call.

use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value, json};

use super::bill_file::{self, BillKind, GroupBy, Options, yuan};
use crate::config::Config;
use crate::context::CallContext;
use crate::engine::Engine;
use crate::error::{ErrorKind, ToolError};
use crate::mcp::resources::{Content, NewResource, TempFile};

/// How many download links one call asks for (each valid about 30 seconds).
const LINK_ATTEMPTS: u32 = 3;
/// Rows between two progress reports while reading.
const ROWS_PER_REPORT: u64 = 8_192;

/// Progress that only grows: one step per report.
#[derive(Clone)]
struct Steps {
    ctx: CallContext,
    done: Arc<AtomicU64>,
}

impl Steps {
    fn report(&self, message: String) {
        let n = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        self.ctx.progress(n as f64, None, message);
    }
}

fn text<'a>(args: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    args.get(name).and_then(Value::as_str)
}

pub(crate) fn cancelled() -> ToolError {
    ToolError::new(
        ErrorKind::Cancelled,
        "the client cancelled the call",
        "Nothing changed; call again when needed.",
    )
}

/// Runs `summarize_bill`.
pub async fn summarize(
    engine: &Engine,
    args: &Map<String, Value>,
    config: &Config,
    ctx: &CallContext,
) -> Result<Value, ToolError> {
    let bill_type = text(args, "bill_type").unwrap_or("trade");
    let bill_date = text(args, "bill_date").unwrap_or_default();
    let kind = if bill_type == "signcustomer" {
        BillKind::Account
    } else {
        BillKind::Trade
    };
    let group_by = match text(args, "group_by") {
        Some(g) => GroupBy::parse(g)
            .ok_or_else(|| ToolError::invalid("group_by", format!("unknown grouping {g}")))?,
        None if kind == BillKind::Trade => GroupBy::Product,
        None => GroupBy::BusinessType,
    };
    if !bill_file_has(kind, group_by) {
        return Err(ToolError::invalid(
            "group_by",
            format!(
                "a {bill_type} bill cannot be grouped by {}: use product, business_type or day{}",
                group_by.as_str(),
                if kind == BillKind::Trade {
                    ", store"
                } else {
                    ", channel"
                }
            ),
        ));
    }
    let flag_above = match text(args, "flag_above") {
        Some(y) => Some(crate::money::fen_from_yuan(y).ok_or_else(|| {
            ToolError::invalid("flag_above", "must be yuan with at most two decimals")
        })?),
        None => None,
    };
    let steps = Steps {
        ctx: ctx.clone(),
        done: Arc::default(),
    };
    let zip = TempFile::new("bill-zip");
    let mut links = 0;
    let bytes = loop {
        links += 1;
        steps.report(format!(
            "asking Alipay for the {bill_type} bill link of {bill_date}"
        ));
        let mut query = Map::new();
        query.insert("bill_type".into(), bill_type.into());
        query.insert("bill_date".into(), bill_date.into());
        let link = engine
            .call_inner("query_bill_download_url", query, config, ctx)
            .await?;
        let url = text_of(&link, "bill_download_url").ok_or_else(|| {
            ToolError::new(
                ErrorKind::Upstream,
                "Alipay answered without bill_download_url",
                "Retry in a few seconds.",
            )
        })?;
        match download(engine, &url, &zip, &steps).await? {
            Some(bytes) => break bytes,
            None if links < LINK_ATTEMPTS => {
                tracing::warn!(
                    links,
                    "the bill link expired before the download; asking again"
                );
            }
            None => {
                return Err(ToolError::new(
                    ErrorKind::Upstream,
                    format!("{links} bill download links in a row expired or failed before the file arrived"),
                    "Retry in a minute; the links are valid about 30 seconds.",
                )
                .retry_safe(true));
            }
        }
    };
    if ctx.is_cancelled() {
        return Err(cancelled());
    }
    let rows = TempFile::new("bill-rows");
    let options = Options {
        kind,
        group_by,
        flag_above,
    };
    let (zip_path, rows_path) = (zip.path().to_path_buf(), rows.path().to_path_buf());
    let read_steps = steps.clone();
    let parsed = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&zip_path).map_err(|e| e.to_string())?;
        let mut out = BufWriter::with_capacity(
            256 * 1024,
            std::fs::File::create(&rows_path).map_err(|e| e.to_string())?,
        );
        let mut tick = |n: u64| {
            if n.is_multiple_of(ROWS_PER_REPORT) {
                read_steps.report(format!("{n} rows read"));
            }
            !read_steps.ctx.is_cancelled()
        };
        let summary = bill_file::summarize(file, &options, &mut out, &mut tick).map_err(|e| e.0)?;
        out.flush().map_err(|e| e.to_string())?;
        Ok::<_, String>(summary)
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    drop(zip);
    let summary = match parsed {
        Ok(s) => s,
        Err(_) if ctx.is_cancelled() => return Err(cancelled()),
        Err(e) => {
            return Err(ToolError::new(
                ErrorKind::Upstream,
                format!("the bill file could not be read: {e}"),
                "Retry once; if it fails again the file's layout is not the one documented (alipay.md §8): fetch it with query_bill_download_url and read it yourself.",
            ));
        }
    };
    steps.report(format!("{} rows read", summary.rows));
    let resource = engine.resources().add(NewResource {
        uri: format!(
            "zhifu://alipay/bills/{bill_type}/{bill_date}/{:08x}.csv",
            rand::random::<u32>()
        ),
        name: format!("alipay-{bill_type}-{bill_date}.csv"),
        title: Some(format!("Alipay {bill_type} bill {bill_date}: detail rows")),
        description: Some(
            "The bill's detail rows as UTF-8 CSV (header first, TABs and # lines removed).".into(),
        ),
        mime_type: "text/csv",
        content: Content::File(rows),
    });
    let mut out = result(
        kind, bill_type, bill_date, group_by, flag_above, &summary, links, bytes, &resource,
    );
    out["resource_parts"] = engine.resources().parts(&resource.uri).into();
    Ok(out)
}

fn bill_file_has(kind: BillKind, group_by: GroupBy) -> bool {
    !matches!(
        (kind, group_by),
        (BillKind::Trade, GroupBy::Channel) | (BillKind::Account, GroupBy::Store)
    )
}

fn text_of(v: &Value, name: &str) -> Option<String> {
    v.get(name).and_then(Value::as_str).map(str::to_string)
}

/// Streams `url` into `to`; `Ok(None)` when the link no longer works (expired: any answer but a
/// ZIP with status 200).
async fn download(
    engine: &Engine,
    url: &str,
    to: &TempFile,
    steps: &Steps,
) -> Result<Option<u64>, ToolError> {
    let transport = |e: crate::providers::http::TransportError| {
        ToolError::new(
            ErrorKind::Transport,
            e.describe(),
            "Retry in a few seconds.",
        )
        .retry_safe(true)
    };
    let mut response = engine.http().download(url).await.map_err(transport)?;
    if response.status != 200 {
        return Ok(None);
    }
    let io = |e: std::io::Error| {
        ToolError::new(
            ErrorKind::Configuration,
            format!("the bill could not be written to a temporary file: {e}"),
            "Tell the operator (disk space, TMPDIR).",
        )
    };
    let mut file = BufWriter::new(std::fs::File::create(to.path()).map_err(io)?);
    let mut written = 0u64;
    let mut next_report = 4 * 1024 * 1024;
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if written == 0 && !chunk.starts_with(b"PK") {
            return Ok(None);
        }
        file.write_all(&chunk).map_err(io)?;
        written += chunk.len() as u64;
        if written >= next_report {
            next_report += 4 * 1024 * 1024;
            let of = response
                .length
                .map(|l| format!(" of {} KiB", l / 1024))
                .unwrap_or_default();
            steps.report(format!("{} KiB{of} downloaded", written / 1024));
        }
        if steps.ctx.is_cancelled() {
            return Err(cancelled());
        }
    }
    file.flush().map_err(io)?;
    if written == 0 {
        return Ok(None);
    }
    steps.report(format!("{} KiB downloaded", written / 1024));
    Ok(Some(written))
}

#[allow(clippy::too_many_arguments)]
fn result(
    kind: BillKind,
    bill_type: &str,
    bill_date: &str,
    group_by: GroupBy,
    flag_above: Option<i64>,
    s: &bill_file::Summary,
    links: u32,
    bytes: u64,
    resource: &rmcp::model::Resource,
) -> Value {
    let mut out = json!({
        "bill_type": bill_type,
        "bill_date": bill_date,
        "account": s.account,
        "period": s.period,
        "rows": s.rows,
    });
    let map = out.as_object_mut().expect("an object");
    map.extend(bill_file::tally_json(kind, &s.total));
    if kind == BillKind::Trade {
        map.insert("other_rows".into(), s.other_rows.into());
    }
    if s.rows == 0 {
        map.insert(
            "note".into(),
            format!(
                "The bill exists but has no rows: no {} on {bill_date}.",
                match kind {
                    BillKind::Trade => "payments or refunds",
                    BillKind::Account => "account movements",
                }
            )
            .into(),
        );
    }
    map.insert("group_by".into(), group_by.as_str().into());
    map.insert("group_count".into(), s.group_count().into());
    map.insert("groups".into(), s.groups(kind).into());
    map.insert("largest".into(), s.largest().into());
    if let Some(limit) = flag_above {
        map.insert(
            "flagged".into(),
            json!({
                "above": yuan(limit),
                "count": s.flagged_count,
                "amount": yuan(s.flagged_fen),
                "rows": s.flagged(),
                "shown": s.flagged_count.min(bill_file::SHOWN_FLAGGED as u64),
            }),
        );
    }
    map.insert("cross_check".into(), s.cross_check(kind));
    map.insert("files".into(), json!(s.files));
    map.insert(
        "download".into(),
        json!({ "links_requested": links, "bytes": bytes }),
    );
    map.insert(
        "resource_link".into(),
        serde_json::to_value(resource).unwrap_or(Value::Null),
    );
    out
}
