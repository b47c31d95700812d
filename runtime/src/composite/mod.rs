//! Operations the engine runs itself, for `local` tools that are more than a pure function of
//! their arguments: they call other tools, page through lists, download files, read the state
//! store or wait, and report progress through the call's [`CallContext`].
//!
//! [`run`] answers `None` for a local operation it does not own; the provider's protocol runs
//! those (pure functions such as webhook verification).

pub mod bill;
pub mod bill_file;
pub mod charges;
pub mod received;

use serde_json::{Map, Value};

use crate::config::Config;
use crate::context::CallContext;
use crate::engine::Engine;
use crate::error::ToolError;
use crate::tool::LocalOp;

/// Runs `op` when it is one of the engine's own operations.
pub async fn run(
    engine: &Engine,
    op: LocalOp,
    args: &Map<String, Value>,
    config: &Config,
    ctx: &CallContext,
) -> Option<Result<Value, ToolError>> {
    // Each composite operation gets a `match op` arm here and a module beside this one.
    Some(match op {
        LocalOp::AlipaySummarizeBill => bill::summarize(engine, args, config, ctx).await,
        LocalOp::PingppSummarizeCharges => charges::summarize(engine, args, config, ctx).await,
        LocalOp::PingppListReceivedEvents => received::list(engine, args).await,
        LocalOp::PingppRetrieveReceivedEvent => received::retrieve(engine, args).await,
        LocalOp::PingppWaitForPayment => received::wait(engine, args, config, ctx).await,
        LocalOp::PingppVerifyWebhook | LocalOp::AlipayVerifyNotification => return None,
    })
}
