//! Schema-driven fuzzer over every tool of the generated table, through the real binary against
//! the sandbox gateways. Argument sets are generated from each tool's `validation_schema` (valid
//! ones, and mutations: wrong types, null for optional and required fields, empty strings, 100 KB
//! strings, unicode, deep nesting, boundary numbers, unknown keys, missing required fields),
//! classified with `jsonschema` against that same schema, and sent one at a time. Asserted: no
//! call hangs, the server never dies (it answers `tools/list` periodically and at the end), and
//! every schema-invalid set is refused (`isError`) with zero requests reaching the sandbox
//! (Ping++ `/v1` and Alipay gateway counters). Valid sets may succeed or fail.
//!
//! Seeded: `ZHIFU_FUZZ_SEED` (decimal or 0x-hex; a fixed default otherwise), `ZHIFU_FUZZ_CASES`
//! (default 3,200), `ZHIFU_FUZZ_CASE=<index>` replays one case. Every failure names the seed and
//! the case index.

mod common;

#[path = "fuzz/mutations.rs"]
mod mutations;
#[path = "fuzz/pattern.rs"]
mod pattern;
#[path = "fuzz/values.rs"]
mod values;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::Harness;
use common::adversary::{Outcome, clip, options, tools};
use serde_json::{Value, json};
use zhifu_runtime::tool::ToolDef;

use mutations::{MUTATIONS, Mutation, mutate};
use values::{Gen, Validators};

const DEFAULT_SEED: u64 = 0x5EED_2026_0007;
const DEFAULT_CASES: usize = 3_200;
/// Hangs cost a full call timeout each; after this many, deeper-than-the-parser cases are skipped.
const MAX_DEEP_HANGS: usize = 1;
/// Nesting from which a JSON-RPC message may exceed common parser recursion limits (128).
const PARSER_DEPTH: usize = 124;
/// Liveness check (`tools/list`) every this many cases.
const LIVENESS_EVERY: usize = 250;

/// xorshift64*: tiny, deterministic, good enough to pick test inputs.
pub struct Rng(u64);

impl Rng {
    /// The generator of case `index` under `seed` (splitmix64 of both), so any case replays alone.
    fn for_case(seed: u64, index: usize) -> Rng {
        let mut z = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo) as u64 + 1;
        lo + (self.next() % span) as i64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as i64 - 1) as usize]
    }
}

struct Case {
    /// `None` for a corpus case (a fixed reproduction, not generated from the seed).
    index: Option<usize>,
    tool: &'static ToolDef,
    mutation: Mutation,
    label: String,
    args: Value,
    /// The first schema error, or `None` when the set is valid.
    invalid: Option<String>,
    depth: usize,
}

/// Case `index`: the tool (round robin over the table), a valid base, a mutation, the class.
fn case(
    seed: u64,
    index: usize,
    checkers: &[jsonschema::Validator],
    subs: &mut Validators,
) -> Case {
    let all: Vec<&'static ToolDef> = tools().collect();
    let slot = index % all.len();
    let tool = all[slot];
    let schema: Value = serde_json::from_str(tool.validation_schema).expect("schema is JSON");
    let checker = &checkers[slot];
    let mut rng = Rng::for_case(seed, index);
    let total: u32 = MUTATIONS.iter().map(|(_, w)| w).sum();
    let mut roll = rng.range(0, total as i64 - 1) as u32;
    let mutation = MUTATIONS
        .iter()
        .find(|(_, w)| {
            let hit = roll < *w;
            roll = roll.saturating_sub(*w);
            hit
        })
        .map(|(m, _)| *m)
        .expect("a mutation");
    let mut base = json!({});
    for _ in 0..10 {
        base = Gen {
            rng: &mut rng,
            validators: subs,
        }
        .value(&schema);
        if checker.is_valid(&base) {
            break;
        }
    }
    let (args, label, depth) = mutate(&base, &schema, mutation, &mut rng);
    Case {
        index: Some(index),
        invalid: classify(checker, &args),
        tool,
        mutation,
        label,
        args,
        depth,
    }
}

/// The first schema error of `args`, or `None` when they are valid.
fn classify(checker: &jsonschema::Validator, args: &Value) -> Option<String> {
    checker
        .iter_errors(args)
        .next()
        .map(|e| clip(&format!("{e} at {}", e.instance_path()), 160))
}

/// Fixed reproductions of defects found by hand, run before the generated cases: a null amount
/// on a refund of a real paid charge (it refunded the whole charge).
async fn corpus(h: &Harness, checkers: &[jsonschema::Validator]) -> Vec<Case> {
    let refund = tools()
        .position(|t| t.name == "create_refund")
        .expect("create_refund is in the table");
    let tool = zhifu_generated::TOOLS[refund];
    let charge_id = common::adversary::paid_charge(h).await;
    let args = json!({"charge_id": charge_id, "description": "x", "amount": null});
    let args = common::adversary::with_refund_no(tool, args, &common::unique("FZ"));
    vec![Case {
        index: None,
        invalid: classify(&checkers[refund], &args),
        tool,
        mutation: Mutation::NullOptional,
        label: "amount = null on a paid charge".into(),
        args,
        depth: 0,
    }]
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

// ---------------------------------------------------------------- the run

struct Tally {
    alive_at_end: bool,
    sent: usize,
    valid: usize,
    invalid: usize,
    valid_ok: usize,
    /// Messages nested past the JSON parser's limit, answered with a JSON-RPC parse error.
    parse_refused: usize,
    skipped_deep: usize,
    restarts: usize,
    by_mutation: BTreeMap<Mutation, (usize, usize)>,
    failures: Vec<String>,
    failure_kinds: BTreeMap<String, usize>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            alive_at_end: true,
            sent: 0,
            valid: 0,
            invalid: 0,
            valid_ok: 0,
            parse_refused: 0,
            skipped_deep: 0,
            restarts: 0,
            by_mutation: BTreeMap::new(),
            failures: Vec::new(),
            failure_kinds: BTreeMap::new(),
        }
    }
}

impl Tally {
    fn count(&mut self, case: &Case) {
        self.sent += 1;
        let entry = self.by_mutation.entry(case.mutation).or_default();
        match case.invalid {
            None => {
                self.valid += 1;
                entry.0 += 1;
            }
            Some(_) => {
                self.invalid += 1;
                entry.1 += 1;
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        self.alive_at_end &= other.alive_at_end;
        self.sent += other.sent;
        self.valid += other.valid;
        self.invalid += other.invalid;
        self.valid_ok += other.valid_ok;
        self.parse_refused += other.parse_refused;
        self.skipped_deep += other.skipped_deep;
        self.restarts += other.restarts;
        for (m, (v, i)) in other.by_mutation {
            let e = self.by_mutation.entry(m).or_default();
            e.0 += v;
            e.1 += i;
        }
        for (k, n) in other.failure_kinds {
            *self.failure_kinds.entry(k).or_default() += n;
        }
        let room = 40usize.saturating_sub(self.failures.len());
        self.failures.extend(other.failures.into_iter().take(room));
    }

    fn fail(&mut self, kind: &str, seed: u64, case: &Case, detail: String) {
        let key = format!("{kind}, {:?}", case.mutation);
        *self.failure_kinds.entry(key).or_default() += 1;
        if self.failures.len() < 40 {
            self.failures.push(format!(
                "[{kind}] seed {seed:#x} case {} {} {:?} ({}): {detail}\n      class: {}\n      args: {}",
                case.index.map_or("corpus".to_string(), |i| i.to_string()),
                case.tool.name,
                case.mutation,
                clip(&case.label, 120),
                case.invalid.as_deref().unwrap_or("valid"),
                clip(&case.args.to_string(), 300)
            ));
        }
    }
}

/// A tool that waits by design (`wait_for_payment`, up to `timeout_seconds`) is fuzzed with a
/// 1-second wait when the case leaves that argument absent or valid, so a valid wait is not taken
/// for a hang; a mutated `timeout_seconds` is sent as generated (and must be refused).
fn bounded_wait(tool: &str, args: &Value) -> Value {
    let mut args = args.clone();
    if tool == "wait_for_payment"
        && let Some(map) = args.as_object_mut()
        && map
            .get("timeout_seconds")
            .is_none_or(|v| v.as_u64().is_some_and(|n| (1..=300).contains(&n)))
    {
        map.insert("timeout_seconds".into(), Value::from(1));
    }
    args
}

/// Whether the server still answers `tools/list`.
async fn alive(h: &Harness) -> bool {
    matches!(
        tokio::time::timeout(
            common::adversary::CALL_TIMEOUT,
            h.client.peer().list_all_tools()
        )
        .await,
        Ok(Ok(list)) if !list.is_empty()
    )
}

/// Lanes run in parallel, each with its own sandbox and server; case `i` runs in lane `i % LANES`.
const LANES: usize = 2;

fn checkers() -> Vec<jsonschema::Validator> {
    tools()
        .map(|t| {
            let schema: Value = serde_json::from_str(t.validation_schema).expect("JSON");
            jsonschema::draft202012::new(&schema).expect("validation schema compiles")
        })
        .collect()
}

/// Sends one case and checks its answer; true when the server no longer answers.
async fn check(
    h: &Harness,
    case: &Case,
    seed: u64,
    tally: &mut Tally,
    deep_hangs: &AtomicUsize,
) -> bool {
    tally.count(case);
    let before = h.upstream_requests().await;
    let outcome = h
        .outcome(case.tool.name, &bounded_wait(case.tool.name, &case.args))
        .await;
    let reached = h.upstream_requests().await - before;
    match (&outcome, &case.invalid) {
        (Outcome::Hang, _) => {
            if case.depth >= PARSER_DEPTH {
                deep_hangs.fetch_add(1, Ordering::SeqCst);
            }
            tally.fail("hang", seed, case, outcome.summary(100));
            return !alive(h).await;
        }
        // A message nested past the JSON parser's limit cannot be read as a request at all: the
        // protocol answer is a JSON-RPC parse error (issue 7 item 7), and nothing is sent.
        (Outcome::Protocol(e), _)
            if case.depth >= PARSER_DEPTH && e.contains("-32700") && reached == 0 =>
        {
            tally.parse_refused += 1;
            return !alive(h).await;
        }
        (Outcome::Protocol(_), _) => {
            tally.fail("protocol error", seed, case, outcome.summary(200));
            return !alive(h).await;
        }
        (Outcome::Result { error: false, .. }, Some(_)) => tally.fail(
            "invalid set accepted",
            seed,
            case,
            format!(
                "{reached} request(s) reached the sandbox; {}",
                outcome.summary(160)
            ),
        ),
        (Outcome::Result { error: true, .. }, Some(_)) if reached > 0 => tally.fail(
            "invalid set reached the sandbox",
            seed,
            case,
            format!("{reached} request(s); {}", outcome.summary(160)),
        ),
        (Outcome::Result { error, .. }, None) => tally.valid_ok += usize::from(!error),
        _ => {}
    }
    false
}

/// Sends the corpus (lane 0) and `indices` one at a time through one server, restarting it if it
/// dies.
async fn run_lane(
    seed: u64,
    indices: Vec<usize>,
    with_corpus: bool,
    deep_hangs: Arc<AtomicUsize>,
) -> Tally {
    let checkers = checkers();
    let mut subs = Validators::default();
    let opts = options(&[]);
    let mut h = Harness::with(opts.clone()).await;
    // The request counter covers both gateways: one Alipay and one Ping++ read move it by one each.
    for (tool, args) in [
        ("query_trade", json!({"out_trade_no": "FUZZ_PROBE"})),
        ("list_charges", json!({})),
    ] {
        let before = h.upstream_requests().await;
        h.call(tool, args).await;
        assert_eq!(h.upstream_requests().await, before + 1, "{tool} is counted");
    }
    let mut tally = Tally::default();
    let fixed = if with_corpus {
        corpus(&h, &checkers).await
    } else {
        vec![]
    };
    let generated = indices
        .into_iter()
        .map(|i| case(seed, i, &checkers, &mut subs));
    for (n, case) in fixed.into_iter().chain(generated).enumerate() {
        if case.depth >= PARSER_DEPTH && deep_hangs.load(Ordering::SeqCst) >= MAX_DEEP_HANGS {
            tally.skipped_deep += 1;
            continue;
        }
        let mut restart = check(&h, &case, seed, &mut tally, &deep_hangs).await;
        if !restart && (n + 1) % LIVENESS_EVERY == 0 {
            restart = !alive(&h).await;
        }
        if restart {
            tally.fail("server died", seed, &case, "no answer to tools/list".into());
            tally.restarts += 1;
            h = h.restart(&opts).await;
        }
    }
    tally.alive_at_end = alive(&h).await;
    h.stop().await;
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_survives_schema_driven_fuzzing() {
    let seed = env_number("ZHIFU_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let count = env_number("ZHIFU_FUZZ_CASES").map_or(DEFAULT_CASES, |n| n as usize);
    let only = env_number("ZHIFU_FUZZ_CASE").map(|n| n as usize);
    let deep_hangs = Arc::new(AtomicUsize::new(0));
    let lanes: Vec<_> = (0..LANES)
        .map(|lane| {
            let indices: Vec<usize> = match only {
                Some(i) if lane == 0 => vec![i],
                Some(_) => vec![],
                None => (lane..count).step_by(LANES).collect(),
            };
            tokio::spawn(run_lane(seed, indices, lane == 0, deep_hangs.clone()))
        })
        .collect();
    let mut tally = Tally::default();
    for lane in lanes {
        tally.merge(lane.await.expect("a fuzz lane panicked"));
    }

    let mut report = String::new();
    let _ = writeln!(
        report,
        "fuzz seed {seed:#x}: {} argument sets over {} tools sent ({} schema-valid, {} of them succeeded; {} schema-invalid; {} too deep to parse, answered -32700), {} deep cases skipped after {} hangs, {} restarts",
        tally.sent,
        zhifu_generated::TOOLS.len(),
        tally.valid,
        tally.valid_ok,
        tally.invalid,
        tally.parse_refused,
        tally.skipped_deep,
        deep_hangs.load(Ordering::SeqCst),
        tally.restarts
    );
    for (m, (v, i)) in &tally.by_mutation {
        let _ = writeln!(report, "  {m:?}: {v} valid, {i} invalid");
    }
    for (kind, n) in &tally.failure_kinds {
        let _ = writeln!(report, "  FAILURES {kind}: {n}");
    }
    eprintln!("{report}");
    assert!(
        tally.alive_at_end,
        "every server answers tools/list at the end"
    );
    if only.is_none() && count >= 3_000 {
        assert!(tally.sent >= 3_000, "{report}");
    }
    assert!(
        tally.failures.is_empty(),
        "{report}first {} failures (replay one with ZHIFU_FUZZ_SEED={seed:#x} ZHIFU_FUZZ_CASE=<case>):\n{}",
        tally.failures.len(),
        tally.failures.join("\n")
    );
}
