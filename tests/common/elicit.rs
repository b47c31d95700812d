//! An MCP client that answers confirmation prompts (elicitation) the way a user would, on the
//! 2025-11-25 (initialize) or the 2026-07-28 (per request) lifecycle, and a call helper that
//! returns what the call came back with as data.

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult,
    ElicitationAction, Implementation, ProtocolVersion,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RequestContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ErrorData, RoleClient, ServiceExt};
use serde_json::{Value, json};

use super::{Harness, Options};

/// A client that answers elicitation requests the way a user would.
#[derive(Clone)]
pub struct User {
    action: ElicitationAction,
    /// The prompts shown so far.
    pub asked: Arc<Mutex<Vec<String>>>,
}

impl User {
    pub fn new(action: ElicitationAction) -> Self {
        User {
            action,
            asked: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

impl ClientHandler for User {
    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = request {
            self.asked.lock().unwrap().push(message);
        }
        Ok(ElicitResult::new(self.action.clone()).with_content(json!({"confirm": true})))
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_elicitation().build(),
            Implementation::new("safety-test", "1"),
        )
    }
}

/// A server on `h`'s sandbox driven by `user`, on the legacy (initialize) or 2026-07-28 lifecycle.
pub async fn connect(
    h: &Harness,
    options: &Options,
    user: User,
    stateless: bool,
) -> RunningService<RoleClient, User> {
    let cmd = super::server_command(&h.sandbox, &h.dir, options);
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    if stateless {
        user.serve_with_lifecycle(
            transport,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .unwrap()
    } else {
        user.serve(transport).await.unwrap()
    }
}

pub async fn call<H: ClientHandler>(
    client: &RunningService<RoleClient, H>,
    name: &str,
    args: Value,
) -> (bool, Value) {
    let r = client
        .call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(super::obj(args)))
        .await
        .unwrap();
    (r.is_error == Some(true), super::payload(&r))
}
