//! Fault matrix through the real binary: every money-moving tool that makes a request (derived
//! from the tool table) × each gateway fault on the first attempt — latency past the server's
//! timeout, HTTP 500, HTTP 503, a connection reset after the operation was performed, a garbled
//! 200 after the operation was performed — then three blind retries of the identical call. The
//! sandbox ledger must show exactly one movement for the merchant reference: not zero, not two.
//! Retries go through the same server process, and in one lane through a new process on the same
//! state dir (a restart). A no-fault lane checks the builders and the ledger themselves.

mod common;

use common::Harness;
use common::adversary::{MoneyCall, Outcome, money_call, networked_money_tools, options};
use serde_json::{Value, json};
use zhifu_runtime::tool::ToolDef;

/// Server-side gateway timeout in the latency lane, and the injected latency past it.
const TIMEOUT_MS: &str = "800";
const LATENCY_MS: u64 = 2_000;

/// One lane: a fault kind, its own sandbox and server, every tool in turn.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Lane {
    None,
    Latency,
    Status500,
    Status503,
    Reset,
    Garbled,
    /// A reset, and the retries go through a new server process on the same state dir.
    ResetThenRestart,
}

impl Lane {
    /// The `/_sandbox/faults` body, `None` for the control lane.
    fn fault(self) -> Option<Value> {
        Some(match self {
            Lane::None => return None,
            Lane::Latency => json!({"kind": "latency", "latency_ms": LATENCY_MS}),
            Lane::Status500 => json!({"kind": "status", "status": 500}),
            Lane::Status503 => json!({"kind": "status", "status": 503}),
            Lane::Reset | Lane::ResetThenRestart => json!({"kind": "reset"}),
            Lane::Garbled => json!({"kind": "garbled"}),
        })
    }

    fn env(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Lane::Latency => vec![("ZHIFU_HTTP_TIMEOUT_MS", TIMEOUT_MS)],
            _ => vec![],
        }
    }
}

const LANES: [Lane; 7] = [
    Lane::None,
    Lane::Latency,
    Lane::Status500,
    Lane::Status503,
    Lane::Reset,
    Lane::Garbled,
    Lane::ResetThenRestart,
];

/// What one tool × fault case came to.
#[derive(Debug)]
struct Case {
    tool: &'static str,
    lane: Lane,
    reference: String,
    kind: &'static str,
    movements: u64,
    fault_fired: bool,
    outcomes: Vec<Outcome>,
}

impl Case {
    fn ok(&self) -> bool {
        self.movements == 1 && (self.fault_fired || self.lane == Lane::None)
    }

    fn line(&self) -> String {
        let calls: Vec<String> = self.outcomes.iter().map(|o| o.summary(160)).collect();
        format!(
            "{:<24} {:<17?} {} movement(s) of {} under {}{}\n    calls: {}",
            self.tool,
            self.lane,
            self.movements,
            self.kind,
            self.reference,
            if self.fault_fired || self.lane == Lane::None {
                ""
            } else {
                " (the fault never fired)"
            },
            calls.join("\n           ")
        )
    }
}

/// Runs one tool's case on `h`: precondition, fault, the first attempt, three blind retries
/// (through a restarted server in the restart lane), then the ledger once the sandbox is idle.
async fn run_case(mut h: Harness, tool: &'static ToolDef, lane: Lane) -> (Harness, Case) {
    let MoneyCall {
        args,
        reference,
        kind,
    } = money_call(&h, tool)
        .await
        .expect("builder checked up front");
    let lane_options = options(&lane.env());
    if let Some(fault) = lane.fault() {
        let matcher = common::adversary::request_matcher(&h, tool, &args);
        h.fault(&matcher, &fault).await;
    }
    let mut outcomes = vec![h.outcome(tool.name, &args).await];
    if lane == Lane::ResetThenRestart {
        h = h.restart(&lane_options).await;
    }
    for _ in 0..3 {
        outcomes.push(h.outcome(tool.name, &args).await);
    }
    h.wait_idle().await;
    let fault_fired = h.pending_faults().await == 0;
    h.clear_faults().await;
    let ledger = h.ledger(&reference).await;
    let movements = ledger["by_kind"][kind].as_u64().expect("a ledger kind");
    let case = Case {
        tool: tool.name,
        lane,
        reference,
        kind,
        movements,
        fault_fired,
        outcomes,
    };
    (h, case)
}

/// Every tool in one lane, on its own sandbox and server.
async fn run_lane(lane: Lane, tools: Vec<&'static ToolDef>) -> Vec<Case> {
    let mut h = Harness::with(options(&lane.env())).await;
    let mut cases = Vec::new();
    for tool in tools {
        let (next, case) = run_case(h, tool, lane).await;
        h = next;
        cases.push(case);
    }
    h.stop().await;
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_money_tool_moves_money_once_under_faults_and_blind_retries() {
    let tools = networked_money_tools();
    assert!(
        tools.len() >= 9,
        "the table has the money-moving tools: {:?}",
        tools.iter().map(|t| t.name).collect::<Vec<_>>()
    );
    // A builder for every money-moving tool, checked before anything runs: a new tool without
    // one fails here instead of being skipped.
    let probe = Harness::with(options(&[])).await;
    let mut missing = Vec::new();
    for tool in &tools {
        if money_call(&probe, tool).await.is_none() {
            missing.push(tool.name);
        }
    }
    probe.stop().await;
    assert!(
        missing.is_empty(),
        "money-moving tools without an argument builder in tests/common/adversary.rs: {missing:?}"
    );

    let lanes: Vec<_> = LANES
        .iter()
        .map(|&lane| tokio::spawn(run_lane(lane, tools.clone())))
        .collect();
    let mut cases = Vec::new();
    for (lane, task) in LANES.iter().zip(lanes) {
        match task.await {
            Ok(done) => cases.extend(done),
            Err(e) => panic!("lane {lane:?} failed: {e}"),
        }
    }
    let bad: Vec<&Case> = cases.iter().filter(|c| !c.ok()).collect();
    let doubles = cases.iter().filter(|c| c.movements > 1).count();
    let extra: u64 = cases.iter().map(|c| c.movements.saturating_sub(1)).sum();
    eprintln!(
        "fault matrix: {} tools × {} lanes = {} cases; {doubles} booked more than one movement ({extra} extra), {} not exactly one\n{}",
        tools.len(),
        LANES.len(),
        cases.len(),
        bad.len(),
        grid(&tools, &cases)
    );
    let failed: Vec<String> = bad.iter().map(|c| c.line()).collect();
    assert!(
        bad.is_empty(),
        "{} of {} tool × fault cases did not book exactly one movement ({doubles} booked more than one, {extra} extra movements in all):\n{}",
        bad.len(),
        cases.len(),
        failed.join("\n")
    );
}

/// Movements per tool (rows) and lane (columns).
fn grid(tools: &[&'static ToolDef], cases: &[Case]) -> String {
    let mut out = format!("{:<24}", "tool");
    for lane in LANES {
        out.push_str(&format!(" {:>16}", format!("{lane:?}")));
    }
    for tool in tools {
        out.push_str(&format!("\n{:<24}", tool.name));
        for lane in LANES {
            let cell = cases
                .iter()
                .find(|c| c.tool == tool.name && c.lane == lane)
                .map_or("-".to_string(), |c| {
                    format!("{}{}", c.movements, if c.ok() { "" } else { " !" })
                });
            out.push_str(&format!(" {cell:>16}"));
        }
    }
    out
}
