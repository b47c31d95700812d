//! Idempotency store and audit log against real SQLite files and real log files: claims, spend
//! limits under concurrency, persistence across reopen, redaction, rotation, concurrent writers.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use serde_json::{Value, json};
use zhifu_runtime::audit::{AuditLog, AuditRecord, now_rfc3339, pick_upstream_ids, redact_args};
use zhifu_runtime::store::{
    Begun, Claim, IdemKey, IdemState, Lease, Reservation, SpendRequest, SqliteStore, StoreError,
    args_digest,
};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "zhifu-store-audit-{}-{}-{name}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const NOW: i64 = 1_795_507_560;
const DAY: i64 = 86_400;

fn key(reference: &str) -> IdemKey {
    IdemKey::new("pingpp", "pingpp_create_charge", reference)
}

fn reserved_id(reservation: Reservation) -> i64 {
    match reservation {
        Reservation::Reserved { id, .. } => id,
        other => panic!("expected a reservation, got {other:?}"),
    }
}

// ---------------------------------------------------------------- idempotency

#[test]
fn second_claim_returns_the_first_record_unchanged() {
    let store = SqliteStore::in_memory().unwrap();
    let first = args_digest(&json!({"order_no": "o1", "amount": 100}));
    let second = args_digest(&json!({"order_no": "o1", "amount": 200}));
    assert_eq!(
        store.claim(&key("o1"), &first, NOW).unwrap(),
        Claim::Claimed
    );
    let Claim::Existing(record) = store.claim(&key("o1"), &second, NOW + 5).unwrap() else {
        panic!("second claim must not succeed");
    };
    assert_eq!(record.key, key("o1"));
    assert_eq!(record.args_digest, first);
    assert_eq!(record.state, IdemState::Pending);
    assert_eq!(record.result, None);
    assert_eq!((record.created_unix, record.updated_unix), (NOW, NOW));
    // Another tool or provider with the same reference is a different key.
    let other_tool = IdemKey::new("pingpp", "pingpp_create_refund", "o1");
    let other_provider = IdemKey::new("alipay", "pingpp_create_charge", "o1");
    assert_eq!(
        store.claim(&other_tool, &second, NOW).unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        store.claim(&other_provider, &second, NOW).unwrap(),
        Claim::Claimed
    );
}

#[test]
fn done_stores_the_result_for_replay() {
    let store = SqliteStore::in_memory().unwrap();
    let result = json!({"id": "ch_1", "amount": 1550, "paid": false, "备注": "测试"});
    store.claim(&key("o2"), "d2", NOW).unwrap();
    store
        .finish(&key("o2"), IdemState::Done, Some(&result), NOW + 1)
        .unwrap();
    let record = store.get(&key("o2")).unwrap().unwrap();
    assert_eq!(record.state, IdemState::Done);
    assert_eq!(record.result.as_ref(), Some(&result));
    assert_eq!((record.created_unix, record.updated_unix), (NOW, NOW + 1));
    match store.claim(&key("o2"), "d2", NOW + 2).unwrap() {
        Claim::Existing(existing) => assert_eq!(*existing, record),
        Claim::Claimed => panic!("a done key must not be claimable"),
    }
}

#[test]
fn failed_frees_the_key() {
    let store = SqliteStore::in_memory().unwrap();
    store.claim(&key("o3"), "old", NOW).unwrap();
    store
        .finish(&key("o3"), IdemState::Failed, None, NOW + 1)
        .unwrap();
    assert_eq!(store.get(&key("o3")).unwrap(), None);
    assert_eq!(
        store.claim(&key("o3"), "new", NOW + 2).unwrap(),
        Claim::Claimed
    );
    assert_eq!(store.get(&key("o3")).unwrap().unwrap().args_digest, "new");
    // Failing a key that is not stored is harmless.
    store
        .finish(&key("never"), IdemState::Failed, None, NOW)
        .unwrap();
}

#[test]
fn unknown_keeps_the_key_until_resolved() {
    let store = SqliteStore::in_memory().unwrap();
    store.claim(&key("o4"), "d4", NOW).unwrap();
    store
        .finish(&key("o4"), IdemState::Unknown, None, NOW + 30)
        .unwrap();
    match store.claim(&key("o4"), "d4", NOW + 60).unwrap() {
        Claim::Existing(record) => {
            assert_eq!(record.state, IdemState::Unknown);
            assert_eq!(record.updated_unix, NOW + 30);
        }
        Claim::Claimed => panic!("an unknown outcome must keep the key"),
    }
    // A later query resolves it.
    store
        .finish(
            &key("o4"),
            IdemState::Done,
            Some(&json!({"paid": true})),
            NOW + 90,
        )
        .unwrap();
    assert_eq!(
        store.get(&key("o4")).unwrap().unwrap().state,
        IdemState::Done
    );
    assert!(matches!(
        store.finish(&key("o4"), IdemState::Failed, None, NOW + 99),
        Err(StoreError::AlreadyDone(_))
    ));
}

#[test]
fn digest_ignores_key_order_but_not_values() {
    let a = json!({"order_no": "o1", "amount": 100, "extra": {"x": 1, "y": [1, 2]}});
    let b = json!({"extra": {"y": [1, 2], "x": 1}, "amount": 100, "order_no": "o1"});
    assert_eq!(args_digest(&a), args_digest(&b));
    assert_eq!(args_digest(&a).len(), 64);
    assert!(args_digest(&a).bytes().all(|c| c.is_ascii_hexdigit()));
    for changed in [
        json!({"order_no": "o1", "amount": 101, "extra": {"x": 1, "y": [1, 2]}}),
        json!({"order_no": "o1", "amount": 100, "extra": {"x": 1, "y": [2, 1]}}),
        json!({"order_no": "o1", "amount": "100", "extra": {"x": 1, "y": [1, 2]}}),
        json!({"order_no": "o1", "amount": 100, "extra": {"x": 1, "y": [1, 2]}, "z": null}),
    ] {
        assert_ne!(args_digest(&a), args_digest(&changed), "{changed}");
    }
}

// ---------------------------------------------------------------- spend

#[test]
fn reserve_allows_the_exact_limit_and_refuses_one_fen_more() {
    let store = SqliteStore::in_memory().unwrap();
    let limit = Some(1000);
    let first = store
        .reserve_spend("pingpp", 600, limit, NOW, "o1")
        .unwrap();
    assert!(matches!(
        first,
        Reservation::Reserved {
            spent_before: 0,
            ..
        }
    ));
    assert!(matches!(
        store
            .reserve_spend("pingpp", 400, limit, NOW, "o2")
            .unwrap(),
        Reservation::Reserved {
            spent_before: 600,
            ..
        }
    ));
    assert_eq!(
        store.reserve_spend("pingpp", 1, limit, NOW, "o3").unwrap(),
        Reservation::OverLimit {
            spent: 1000,
            limit: 1000
        }
    );
    assert_eq!(store.spent_last_24h("pingpp", NOW).unwrap(), 1000);
    // Other providers have their own window; no limit still records.
    assert!(matches!(
        store
            .reserve_spend("alipay", 5000, None, NOW, "a1")
            .unwrap(),
        Reservation::Reserved {
            spent_before: 0,
            ..
        }
    ));
    assert_eq!(store.spent_last_24h("alipay", NOW).unwrap(), 5000);
    assert_eq!(store.spent_last_24h("pingpp", NOW).unwrap(), 1000);

    store.release_spend(reserved_id(first)).unwrap();
    assert_eq!(store.spent_last_24h("pingpp", NOW).unwrap(), 400);
    store.release_spend(reserved_id(first)).unwrap(); // twice: no-op
    assert_eq!(store.spent_last_24h("pingpp", NOW).unwrap(), 400);
    assert!(matches!(
        store
            .reserve_spend("pingpp", 600, limit, NOW, "o4")
            .unwrap(),
        Reservation::Reserved {
            spent_before: 400,
            ..
        }
    ));
    // Over the limit on its own.
    assert!(matches!(
        SqliteStore::in_memory()
            .unwrap()
            .reserve_spend("pingpp", 1001, limit, NOW, "big")
            .unwrap(),
        Reservation::OverLimit { spent: 0, .. }
    ));
}

#[test]
fn reservation_ids_are_not_reused_after_release() {
    let store = SqliteStore::in_memory().unwrap();
    let a = reserved_id(store.reserve_spend("pingpp", 1, None, NOW, "a").unwrap());
    store.release_spend(a).unwrap();
    let b = reserved_id(store.reserve_spend("pingpp", 1, None, NOW, "b").unwrap());
    assert_ne!(a, b);
    store.release_spend(a).unwrap(); // a late release of `a` must not free `b`
    assert_eq!(store.spent_last_24h("pingpp", NOW).unwrap(), 1);
}

#[test]
fn window_is_rolling_24_hours() {
    let store = SqliteStore::in_memory().unwrap();
    store
        .reserve_spend("pingpp", 700, None, NOW, "old")
        .unwrap();
    store
        .reserve_spend("pingpp", 200, None, NOW + 3600, "newer")
        .unwrap();
    assert_eq!(store.spent_last_24h("pingpp", NOW + DAY - 1).unwrap(), 900);
    assert_eq!(store.spent_last_24h("pingpp", NOW + DAY).unwrap(), 200);
    assert_eq!(store.spent_last_24h("pingpp", NOW + DAY + 1).unwrap(), 200);
    // Before it was made, a spend does not count either.
    assert_eq!(store.spent_last_24h("pingpp", NOW - 1).unwrap(), 0);
    // The limit uses the same window: 24 h + 1 s later the old spend no longer blocks.
    assert!(matches!(
        store
            .reserve_spend("pingpp", 800, Some(1000), NOW + DAY - 1, "blocked")
            .unwrap(),
        Reservation::OverLimit { spent: 900, .. }
    ));
    assert!(matches!(
        store
            .reserve_spend("pingpp", 800, Some(1000), NOW + DAY + 1, "fits")
            .unwrap(),
        Reservation::Reserved {
            spent_before: 200,
            ..
        }
    ));
}

/// 8 threads reserve 100 fen each against a limit of 500, half through a second connection to the
/// same file (as a second process would): exactly 5 succeed.
#[test]
fn concurrent_reserves_never_exceed_the_limit() {
    let dir = TempDir::new("concurrent-reserve");
    let path = dir.path().join("store.db");
    let stores = [
        Arc::new(SqliteStore::open(&path).unwrap()),
        Arc::new(SqliteStore::open(&path).unwrap()),
    ];
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&stores[i % 2]);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                store
                    .reserve_spend("pingpp", 100, Some(500), NOW, &format!("o{i}"))
                    .unwrap()
            })
        })
        .collect();
    let results: Vec<Reservation> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let reserved = results
        .iter()
        .filter(|r| matches!(r, Reservation::Reserved { .. }))
        .count();
    assert_eq!(reserved, 5, "{results:?}");
    let mut before: Vec<i64> = results
        .iter()
        .filter_map(|r| match r {
            Reservation::Reserved { spent_before, .. } => Some(*spent_before),
            Reservation::OverLimit { .. } => None,
        })
        .collect();
    before.sort_unstable();
    assert_eq!(before, [0, 100, 200, 300, 400]);
    assert_eq!(stores[0].spent_last_24h("pingpp", NOW).unwrap(), 500);
    assert_eq!(stores[1].spent_last_24h("pingpp", NOW).unwrap(), 500);
}

#[test]
fn concurrent_claims_of_one_key_have_one_winner() {
    let dir = TempDir::new("concurrent-claim");
    let path = dir.path().join("store.db");
    let stores = [
        Arc::new(SqliteStore::open(&path).unwrap()),
        Arc::new(SqliteStore::open(&path).unwrap()),
    ];
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&stores[i % 2]);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                store.claim(&key("race"), &format!("d{i}"), NOW).unwrap()
            })
        })
        .collect();
    let claims: Vec<Claim> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners = claims.iter().filter(|c| **c == Claim::Claimed).count();
    assert_eq!(winners, 1, "{claims:?}");
    let stored = stores[0].get(&key("race")).unwrap().unwrap().args_digest;
    for claim in &claims {
        if let Claim::Existing(record) = claim {
            assert_eq!(record.args_digest, stored);
        }
    }
}

#[test]
fn records_survive_reopening_the_file() {
    let dir = TempDir::new("reopen");
    let path = dir.path().join("nested/dirs/store.db");
    let reservation;
    {
        let store = SqliteStore::open(&path).unwrap();
        store.claim(&key("done"), "dd", NOW).unwrap();
        store
            .finish(
                &key("done"),
                IdemState::Done,
                Some(&json!({"id": "ch_9"})),
                NOW + 1,
            )
            .unwrap();
        store.claim(&key("unknown"), "du", NOW).unwrap();
        store
            .finish(&key("unknown"), IdemState::Unknown, None, NOW + 2)
            .unwrap();
        store.claim(&key("pending"), "dp", NOW).unwrap();
        reservation = reserved_id(
            store
                .reserve_spend("pingpp", 1550, Some(10_000), NOW, "done")
                .unwrap(),
        );
        store.reserve_spend("pingpp", 450, None, NOW, "x").unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let done = store.get(&key("done")).unwrap().unwrap();
    assert_eq!(done.state, IdemState::Done);
    assert_eq!(done.args_digest, "dd");
    assert_eq!(done.result, Some(json!({"id": "ch_9"})));
    assert_eq!(
        store.get(&key("unknown")).unwrap().unwrap().state,
        IdemState::Unknown
    );
    assert_eq!(
        store.get(&key("pending")).unwrap().unwrap().state,
        IdemState::Pending
    );
    assert_eq!(store.spent_last_24h("pingpp", NOW).unwrap(), 2000);
    store.release_spend(reservation).unwrap();
    assert_eq!(store.spent_last_24h("pingpp", NOW).unwrap(), 450);
}

// ---------------------------------------------------------------- audit

fn record(seq: u64, args: Value) -> AuditRecord {
    AuditRecord {
        time: now_rfc3339(),
        tool: "pingpp_create_charge".into(),
        provider: "pingpp".into(),
        environment: "test".into(),
        merchant_reference: Some(format!("order-{seq}")),
        amount_fen: Some(1550),
        amount: Some("¥15.50".into()),
        args,
        upstream_ids: pick_upstream_ids(
            &["id"],
            &json!({"id": format!("ch_{seq}"), "amount": 1550}),
        ),
        result: "ok".into(),
        code: None,
        outcome: None,
        duration_ms: seq,
        confirmation: Some("not_required".into()),
        policy: "allowed".into(),
        idempotency: Some("new".into()),
    }
}

fn read_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "partial last line");
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn one_json_line_per_record() {
    let dir = TempDir::new("lines");
    let path = dir.path().join("logs/audit.jsonl");
    let log = AuditLog::open(&path, 0, 3).unwrap();
    assert_eq!(log.path().as_deref(), Some(path.as_path()));
    for seq in 0..3 {
        log.write(&record(seq, json!({"amount": 1550}))).unwrap();
    }
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 3);
    let first = &lines[0];
    assert_eq!(first["tool"], "pingpp_create_charge");
    assert_eq!(first["merchant_reference"], "order-0");
    assert_eq!(first["amount"], "¥15.50");
    assert_eq!(first["upstream_ids"], json!({"id": "ch_0"}));
    assert_eq!(first["policy"], "allowed");
    assert!(first.get("code").is_none(), "None fields are left out");
    let time = first["time"].as_str().unwrap();
    assert!(time.ends_with('Z') && time.len() == 24, "{time}");
    // Reopening appends instead of truncating.
    drop(log);
    let log = AuditLog::open(&path, 0, 3).unwrap();
    log.write(&record(3, json!({}))).unwrap();
    assert_eq!(read_lines(&path).len(), 4);
}

#[test]
fn secrets_never_reach_the_file() {
    let dir = TempDir::new("secrets");
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path, 0, 1).unwrap();
    let pem_body = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw";
    let bare_key = format!("{pem_body}{}", "q".repeat(300));
    let args = json!({
        "order_no": "o-secret",
        "amount": 1550,
        "app_private_key": "hunter2-app-private",
        "api_key": "sk_test_zyxwvutsrqponmlk",
        // Key material under names that are not declared secret.
        "note": "Bearer sk_live_0123456789abcdefghij",
        "pem": format!("-----BEGIN PRIVATE KEY-----\n{pem_body}\n-----END PRIVATE KEY-----\n"),
        "extra": {"merchant_key": "hunter3-nested", "blob": bare_key},
    });
    let summary = redact_args(&["merchant_key"], args.as_object().unwrap());
    log.write(&record(1, summary)).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    for secret in [
        "hunter2-app-private",
        "hunter3-nested",
        "sk_live_",
        "sk_test_",
        "0123456789abcdefghij",
        "PRIVATE KEY",
        "MIIEowIBAAKCAQEA",
        "qqqqqqqqqq",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let line = &read_lines(&path)[0];
    assert_eq!(line["args"]["order_no"], "o-secret");
    assert_eq!(line["args"]["app_private_key"], "***");
    assert_eq!(line["args"]["api_key"], "***");
    assert_eq!(line["args"]["extra"]["merchant_key"], "***");
    assert_eq!(line["args"]["note"], "<redacted 35 chars>");
    assert_eq!(line["args"]["extra"]["blob"], "<redacted 368 chars>");
    assert!(
        line["args"]["pem"]
            .as_str()
            .unwrap()
            .starts_with("<redacted ")
    );
}

#[test]
fn rotation_keeps_at_most_keep_files() {
    let dir = TempDir::new("rotation");
    let path = dir.path().join("audit.jsonl");
    let line_len = serde_json::to_vec(&record(10, json!({"n": 1})))
        .unwrap()
        .len() as u64
        + 1;
    let max_bytes = line_len * 3 + line_len / 2; // three records per file
    let log = AuditLog::open(&path, max_bytes, 2).unwrap();
    for seq in 10..30 {
        log.write(&record(seq, json!({"n": 1}))).unwrap();
    }
    let rotated = |n: usize| PathBuf::from(format!("{}.{n}", path.display()));
    assert!(rotated(1).exists() && rotated(2).exists());
    assert!(!rotated(3).exists(), "keep_files = 2 must drop older files");
    let mut kept = Vec::new();
    for file in [rotated(2), rotated(1), path.clone()] {
        let size = std::fs::metadata(&file).unwrap().len();
        assert!(size <= max_bytes, "{} is {size} bytes", file.display());
        kept.extend(
            read_lines(&file)
                .iter()
                .map(|l| l["duration_ms"].as_u64().unwrap()),
        );
    }
    // The newest records, in order, none lost between the kept files: 20 records, 3 per file
    // → the current file holds the last 2 (28, 29), .1 and .2 hold 3 each.
    assert_eq!(kept, (22..30).collect::<Vec<u64>>());

    // keep_files = 0: rotation starts over without keeping anything.
    let solo = dir.path().join("solo.jsonl");
    let log = AuditLog::open(&solo, max_bytes, 0).unwrap();
    for seq in 10..20 {
        log.write(&record(seq, json!({"n": 1}))).unwrap();
    }
    assert!(!PathBuf::from(format!("{}.1", solo.display())).exists());
    assert_eq!(read_lines(&solo).len(), 1);
}

#[test]
fn a_record_larger_than_max_bytes_is_still_written_whole() {
    let dir = TempDir::new("oversize");
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path, 64, 1).unwrap();
    log.write(&record(1, json!({"n": 1}))).unwrap();
    log.write(&record(2, json!({"n": 2}))).unwrap();
    assert_eq!(read_lines(&path)[0]["duration_ms"], 2);
    assert_eq!(
        read_lines(Path::new(&format!("{}.1", path.display())))[0]["duration_ms"],
        1
    );
}

/// Threads writing through one log, and through a second log on the same file (as a second
/// process would), produce only whole lines and lose none.
#[test]
fn concurrent_writers_produce_intact_lines() {
    let dir = TempDir::new("concurrent-audit");
    let path = dir.path().join("audit.jsonl");
    let logs = [
        Arc::new(AuditLog::open(&path, 0, 1).unwrap()),
        Arc::new(AuditLog::open(&path, 0, 1).unwrap()),
    ];
    let barrier = Arc::new(Barrier::new(8));
    let big = "长".repeat(150); // multi-byte, long lines make interleaving visible
    let handles: Vec<_> = (0..8u64)
        .map(|t| {
            let log = Arc::clone(&logs[(t % 2) as usize]);
            let barrier = Arc::clone(&barrier);
            let big = big.clone();
            thread::spawn(move || {
                barrier.wait();
                for i in 0..200u64 {
                    log.write(&record(t * 1000 + i, json!({"subject": big})))
                        .unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 1600);
    let mut seen: Vec<u64> = lines
        .iter()
        .map(|l| {
            assert_eq!(l["args"]["subject"], big);
            l["duration_ms"].as_u64().unwrap()
        })
        .collect();
    seen.sort_unstable();
    let mut expected: Vec<u64> = (0..8u64)
        .flat_map(|t| (0..200).map(move |i| t * 1000 + i))
        .collect();
    expected.sort_unstable();
    assert_eq!(seen, expected);
}

/// On Unix, a writer whose file was rotated away by another process reopens the path.
#[cfg(unix)]
#[test]
fn writer_follows_rotation_by_another_process() {
    let dir = TempDir::new("follow");
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path, 0, 1).unwrap();
    log.write(&record(1, json!({}))).unwrap();
    let moved = dir.path().join("audit.jsonl.1");
    std::fs::rename(&path, &moved).unwrap();
    log.write(&record(2, json!({}))).unwrap();
    assert_eq!(read_lines(&moved).len(), 1);
    assert_eq!(read_lines(&path)[0]["duration_ms"], 2);
}

// ---------------------------------------------------------------- leases, begin, take-over

fn lease(owner: &str, until: i64) -> Lease {
    Lease {
        owner: owner.into(),
        until_unix: until,
    }
}

fn spend(fen: i64, limit: Option<i64>) -> SpendRequest<'static> {
    SpendRequest {
        provider: "alipay",
        fen,
        daily_limit_fen: limit,
        reference: "r",
    }
}

#[test]
fn begin_claims_and_reserves_together_or_writes_nothing() {
    let store = SqliteStore::in_memory().unwrap();
    let begun = store
        .begin(
            &key("b1"),
            "d",
            NOW,
            &lease("me", NOW + 60),
            Some(spend(700, Some(1000))),
        )
        .unwrap();
    assert!(
        matches!(
            begun,
            Begun::Claimed {
                reservation: Some(_)
            }
        ),
        "{begun:?}"
    );
    assert_eq!(store.spent_last_24h("alipay", NOW).unwrap(), 700);
    // Over the limit: neither the claim nor the spend is written.
    let over = store
        .begin(
            &key("b2"),
            "d",
            NOW,
            &lease("me", NOW + 60),
            Some(spend(301, Some(1000))),
        )
        .unwrap();
    assert_eq!(
        over,
        Begun::OverLimit {
            spent: 700,
            limit: 1000
        }
    );
    assert_eq!(store.get(&key("b2")).unwrap(), None);
    assert_eq!(store.spent_last_24h("alipay", NOW).unwrap(), 700);
    // A taken key: the existing record, and nothing reserved.
    let again = store
        .begin(
            &key("b1"),
            "d",
            NOW + 1,
            &lease("other", NOW + 61),
            Some(spend(1, None)),
        )
        .unwrap();
    let Begun::Existing(record) = again else {
        panic!("{again:?}")
    };
    assert_eq!(record.owner, "me");
    assert!(record.in_flight(NOW + 60) && !record.in_flight(NOW + 61));
    assert_eq!(store.spent_last_24h("alipay", NOW).unwrap(), 700);
}

#[test]
fn complete_releases_the_reservation_in_the_same_transaction() {
    let store = SqliteStore::in_memory().unwrap();
    let Begun::Claimed { reservation } = store
        .begin(
            &key("c1"),
            "d",
            NOW,
            &lease("me", NOW + 60),
            Some(spend(500, None)),
        )
        .unwrap()
    else {
        panic!()
    };
    store
        .complete(&key("c1"), IdemState::Failed, None, NOW + 1, reservation)
        .unwrap();
    assert_eq!(store.get(&key("c1")).unwrap(), None);
    assert_eq!(store.spent_last_24h("alipay", NOW + 1).unwrap(), 0);
}

#[test]
fn only_unknown_or_orphaned_records_can_be_taken_over_and_only_once() {
    let store = SqliteStore::in_memory().unwrap();
    store
        .begin(&key("t1"), "d", NOW, &lease("a", NOW + 60), None)
        .unwrap();
    // In flight: nobody may take it over.
    assert!(
        !store
            .take_over(&key("t1"), "a", NOW + 10, &lease("b", NOW + 70))
            .unwrap()
    );
    // Orphaned (lease ran out): the first caller naming the current owner wins.
    assert!(
        store
            .take_over(&key("t1"), "a", NOW + 61, &lease("b", NOW + 121))
            .unwrap()
    );
    assert!(
        !store
            .take_over(&key("t1"), "a", NOW + 61, &lease("c", NOW + 121))
            .unwrap()
    );
    let r = store.get(&key("t1")).unwrap().unwrap();
    assert_eq!(
        (r.owner.as_str(), r.state, r.lease_until_unix),
        ("b", IdemState::Pending, NOW + 121)
    );
    // Unknown: can be taken over at once; Done: never.
    store
        .finish(&key("t1"), IdemState::Unknown, None, NOW + 62)
        .unwrap();
    assert!(
        store
            .take_over(&key("t1"), "b", NOW + 63, &lease("c", NOW + 123))
            .unwrap()
    );
    store
        .finish(
            &key("t1"),
            IdemState::Done,
            Some(&json!({"ok": true})),
            NOW + 64,
        )
        .unwrap();
    assert!(
        !store
            .take_over(&key("t1"), "c", NOW + 999, &lease("d", NOW + 1999))
            .unwrap()
    );
}

#[test]
fn concurrent_take_overs_have_one_winner_across_connections() {
    let dir = TempDir::new("take-over");
    let path = dir.path().join("store.db");
    let stores = [
        Arc::new(SqliteStore::open(&path).unwrap()),
        Arc::new(SqliteStore::open(&path).unwrap()),
    ];
    stores[0]
        .begin(&key("race"), "d", NOW, &lease("dead", NOW + 1), None)
        .unwrap();
    stores[0]
        .finish(&key("race"), IdemState::Unknown, None, NOW + 2)
        .unwrap();
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&stores[i % 2]);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                store
                    .take_over(
                        &key("race"),
                        "dead",
                        NOW + 5,
                        &lease(&format!("w{i}"), NOW + 60),
                    )
                    .unwrap()
            })
        })
        .collect();
    let wins = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|won| *won)
        .count();
    assert_eq!(wins, 1);
}

#[test]
fn many_processes_opening_a_fresh_file_at_once_all_succeed() {
    for round in 0..3 {
        let dir = TempDir::new(&format!("open-race-{round}"));
        let path = dir.path().join("state.db");
        let barrier = Arc::new(Barrier::new(24));
        let handles: Vec<_> = (0..24)
            .map(|_| {
                let (path, barrier) = (path.clone(), Arc::clone(&barrier));
                thread::spawn(move || {
                    barrier.wait();
                    SqliteStore::open(&path).map(|_| ())
                })
            })
            .collect();
        for h in handles {
            if let Err(e) = h.join().unwrap() {
                panic!("round {round}: {e}");
            }
        }
    }
}

#[test]
fn a_version_1_file_migrates_with_orphaned_pending_records() {
    let dir = TempDir::new("v1");
    let path = dir.path().join("state.db");
    std::fs::create_dir_all(dir.path()).unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE idempotency (provider TEXT NOT NULL, tool TEXT NOT NULL,
                 reference TEXT NOT NULL, args_digest TEXT NOT NULL, state TEXT NOT NULL,
                 result TEXT, created_unix INTEGER NOT NULL, updated_unix INTEGER NOT NULL,
                 PRIMARY KEY (provider, tool, reference)) WITHOUT ROWID;
             CREATE TABLE spend (id INTEGER PRIMARY KEY AUTOINCREMENT, provider TEXT NOT NULL,
                 fen INTEGER NOT NULL, created_unix INTEGER NOT NULL, reference TEXT NOT NULL);
             INSERT INTO idempotency VALUES ('pingpp','pingpp_create_charge','old','d','pending',NULL,1,1);
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let r = store.get(&key("old")).unwrap().unwrap();
    assert_eq!(r.state, IdemState::Pending);
    assert!(
        !r.in_flight(NOW),
        "a v1 pending record is orphaned, not in flight"
    );
    assert!(
        store
            .take_over(&key("old"), "", NOW, &lease("me", NOW + 60))
            .unwrap()
    );
}

// ---------------------------------------------------------------- received events

fn event(id: &str, state: &str, rank: i64, at: i64) -> zhifu_runtime::store::ReceivedEvent {
    zhifu_runtime::store::ReceivedEvent {
        provider: "pingpp".into(),
        event_id: id.into(),
        event_type: format!("charge.{state}"),
        object_id: Some("ch_1".into()),
        reference: Some("o1".into()),
        amount_fen: Some(100),
        object_state: Some(state.into()),
        state_rank: rank,
        received_unix: at,
        raw_body: format!("{{\"id\":\"{id}\"}}"),
        verified: true,
        seq: 0,
    }
}

#[test]
fn events_are_stored_once_and_states_never_move_backwards() {
    use zhifu_runtime::store::{EventFilter, Recorded};
    let store = SqliteStore::in_memory().unwrap();
    assert_eq!(
        store
            .record_event(&event("evt_1", "succeeded", 1, NOW))
            .unwrap(),
        Recorded::Inserted
    );
    assert_eq!(
        store
            .record_event(&event("evt_1", "succeeded", 1, NOW + 1))
            .unwrap(),
        Recorded::Duplicate
    );
    store
        .record_event(&event("evt_3", "refunded", 3, NOW + 2))
        .unwrap();
    // Arrives late: stored, but the charge stays refunded.
    store
        .record_event(&event("evt_2", "succeeded", 1, NOW + 3))
        .unwrap();
    let state = store.object_state("pingpp", "ch_1").unwrap().unwrap();
    assert_eq!(
        (state.state.as_str(), state.event_id.as_str()),
        ("refunded", "evt_3")
    );
    let all = store
        .list_events(&EventFilter {
            limit: 10,
            ..EventFilter::default()
        })
        .unwrap();
    let ids: Vec<&str> = all.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(
        ids,
        ["evt_2", "evt_3", "evt_1"],
        "newest first, one row each"
    );
    let page = store
        .list_events(&EventFilter {
            limit: 1,
            before_seq: Some(all[0].seq),
            ..EventFilter::default()
        })
        .unwrap();
    assert_eq!(page[0].event_id, "evt_3");
    let refunded = store
        .list_events(&EventFilter {
            event_type: Some("charge.refunded".into()),
            limit: 10,
            ..EventFilter::default()
        })
        .unwrap();
    assert_eq!(refunded.len(), 1);
    assert_eq!(
        store
            .get_event("pingpp", "evt_1")
            .unwrap()
            .unwrap()
            .received_unix,
        NOW
    );
}

#[test]
fn ticket_key_is_shared_and_nonces_are_used_once() {
    let dir = TempDir::new("tickets");
    let path = dir.path().join("state.db");
    let (a, b) = (
        SqliteStore::open(&path).unwrap(),
        SqliteStore::open(&path).unwrap(),
    );
    let key = a.ticket_key(&[1u8; 32]).unwrap();
    assert_eq!(
        b.ticket_key(&[2u8; 32]).unwrap(),
        key,
        "the first key stays"
    );
    assert!(a.use_nonce("n1", NOW + 10, NOW).unwrap());
    assert!(
        !b.use_nonce("n1", NOW + 10, NOW).unwrap(),
        "used on another connection"
    );
    // Expired nonces may be forgotten; an expired ticket is refused before its nonce is asked.
    assert!(b.use_nonce("n1", NOW + 100, NOW + 11).unwrap());
}
