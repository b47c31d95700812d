//! Start-up race (issue 7 item 5): processes of the real binary starting at once on one fresh
//! state dir, each opening the state database (a one-shot `call` with provider credentials
//! configured opens `state.db` exactly as `serve` does, then exits), must all succeed — none may
//! fail with "database is locked". Two shapes: rounds of 50 concurrent starts on one fresh dir,
//! and many fresh dirs with three concurrent starts each (the race needs a process to arrive
//! while another is switching the new file to WAL, so many fresh dirs find it more often than
//! many processes on one dir). The race is rare per start: before the fix this test fails in most
//! runs, not all; after it, never.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::{Options, command, start_sandbox, temp_dir};

/// `zhifu-mcp call verify_webhook` on `state`: a local tool (no network), but the configured
/// Ping++ credentials make the binary open the SQLite store in `state`, not the in-memory one.
fn start(state: &Path, public_key: &Path) -> tokio::process::Command {
    let mut cmd = command();
    cmd.env("ZHIFU_STATE_DIR", state)
        .env("PINGPP_API_KEY", "sk_test_ibbTe5jLGCi5rzfH4OqPW9KC")
        .env("PINGPP_PUBLIC_KEY_PATH", public_key)
        .env("PINGPP_API_BASE", "http://127.0.0.1:9")
        .args([
            "call",
            "verify_webhook",
            r#"{"body":"{}","signature":"AAAA"}"#,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Starts `per_dir` processes on each of `dirs` fresh state dirs, all at once; returns how many
/// started and a line for each that failed.
async fn starts(tag: &str, dirs: usize, per_dir: usize, public_key: &Path) -> (usize, Vec<String>) {
    let states: Vec<PathBuf> = (0..dirs)
        .map(|d| temp_dir(&format!("startup-{tag}-{d}")).join("state"))
        .collect();
    let children: Vec<_> = states
        .iter()
        .flat_map(|state| (0..per_dir).map(move |_| state))
        .map(|state| start(state, public_key).spawn().expect("spawn zhifu-mcp"))
        .collect();
    let mut failures = Vec::new();
    let started = children.len();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().await.expect("wait for zhifu-mcp");
        let answered = String::from_utf8_lossy(&out.stdout).contains("\"valid\"");
        if !out.status.success() || !answered {
            failures.push(format!(
                "{tag} start {i}: {} — {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    for state in &states {
        assert!(
            state.join("state.db").exists(),
            "{} has a state database",
            state.display()
        );
    }
    (started, failures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_starts_on_fresh_state_dirs_all_succeed() {
    let sandbox = start_sandbox(&Options::default()).await;
    let keys = temp_dir("startup-keys");
    let public_key = keys.join("pingpp_public.pem");
    std::fs::write(&public_key, &sandbox.pingpp.pingpp_public_key_pem).unwrap();
    let mut total = 0;
    let mut failures = Vec::new();
    // 3 rounds of 50 concurrent starts on one fresh dir.
    for round in 0..3 {
        let (n, f) = starts(&format!("crowd{round}"), 1, 50, &public_key).await;
        total += n;
        failures.extend(f);
    }
    // 120 fresh dirs with 3 concurrent starts each, one dir at a time. Measured on this 2-core
    // machine before the fix: about 1 dir in 60 to 100 had a start fail, and runs of this test
    // failed about 2 times in 3 (a rare race; after the fix it must never fail).
    for trio in 0..120 {
        let (n, f) = starts(&format!("trio{trio}"), 1, 3, &public_key).await;
        total += n;
        failures.extend(f);
    }
    eprintln!(
        "{total} concurrent starts on fresh state dirs: {} failed",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {total} concurrent starts on fresh state dirs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
