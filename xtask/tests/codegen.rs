//! Tests of `cargo xtask codegen`: golden outputs of good fixtures, pinned diagnostics of bad
//! ones, the real generated schemas, and freshness of generated/ against spec/.
//!
//! `UPDATE_SNAPSHOTS=1 cargo test -p xtask` rewrites the `.out` and `.stderr` files; review the
//! result with `git diff`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use xtask::codegen::{self, Diagnostics, Source};

fn xtask_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `*.yaml` in `test_data/<kind>`, sorted, as sources named `test_data/<kind>/<file>`.
fn fixtures(kind: &str) -> Vec<(PathBuf, Source)> {
    let dir = xtask_dir().join("test_data").join(kind);
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no fixtures in {}", dir.display());
    paths
        .into_iter()
        .map(|p| {
            let name = p
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let text = fs::read_to_string(&p).expect("fixture is readable");
            let source = Source {
                path: format!("test_data/{kind}/{name}"),
                text,
            };
            (p, source)
        })
        .collect()
}

/// Compares `actual` with the file at `expected`, or rewrites it under `UPDATE_SNAPSHOTS=1`.
/// Returns a description of the mismatch, if any.
fn check_snapshot(expected: &Path, actual: &str) -> Option<String> {
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        fs::write(expected, actual).expect("writing snapshot");
        return None;
    }
    let want = fs::read_to_string(expected).unwrap_or_default();
    if want == actual {
        return None;
    }
    let line = want
        .lines()
        .zip(actual.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| want.lines().count().min(actual.lines().count()));
    Some(format!(
        "{} differs from the output at line {}:\n  expected: {:?}\n  actual:   {:?}",
        expected.display(),
        line + 1,
        want.lines().nth(line).unwrap_or("<end of file>"),
        actual.lines().nth(line).unwrap_or("<end of output>"),
    ))
}

fn finish(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{}\n\nrun `UPDATE_SNAPSHOTS=1 cargo test -p xtask` to accept the new output, then review `git diff`",
        failures.join("\n\n")
    );
}

#[test]
fn good_specs_match_their_snapshots() {
    let mut failures = Vec::new();
    for (path, source) in fixtures("ok") {
        let files = match codegen::generate(std::slice::from_ref(&source)) {
            Ok(files) => files,
            Err(e) => {
                failures.push(format!("{} should be valid:\n{e}", source.path));
                continue;
            }
        };
        let mut out = String::new();
        for (name, content) in &files {
            out.push_str(&format!("==> {name} <==\n{content}\n"));
        }
        if let Some(f) = check_snapshot(&path.with_extension("out"), &out) {
            failures.push(f);
        }
    }
    finish(failures);
}

#[test]
fn bad_specs_report_the_pinned_diagnostics() {
    let mut failures = Vec::new();
    for (path, source) in fixtures("bad") {
        let err = match codegen::generate(std::slice::from_ref(&source)) {
            Ok(_) => {
                failures.push(format!("{} should be rejected", source.path));
                continue;
            }
            Err(e) => e,
        };
        let Some(diagnostics) = err.downcast_ref::<Diagnostics>() else {
            failures.push(format!("{}: not a spec diagnostic: {err:#}", source.path));
            continue;
        };
        if let Some(f) = check_snapshot(&path.with_extension("stderr"), &format!("{diagnostics}\n"))
        {
            failures.push(f);
        }
    }
    finish(failures);
}

/// `test_data/tree/spec/` has two providers in ten files, each file with one mistake of a kind
/// that used to hide others: a file that is not YAML, a tool with an unknown key, an object, an
/// argument or a method with an error that other keys refer to. One run reports all ten, each
/// in its own file, and nothing that merely follows from them (`tree/ten_mistakes.stderr`).
#[test]
fn ten_mistakes_in_ten_files_are_all_reported_in_one_run() {
    let root = xtask_dir().join("test_data/tree");
    let sources = codegen::read_specs(&root).expect("the fixture tree is readable");
    assert_eq!(sources.len(), 10, "ten files");
    let err = codegen::generate(&sources).expect_err("ten mistakes");
    let d = err
        .downcast_ref::<Diagnostics>()
        .unwrap_or_else(|| panic!("not a spec diagnostic: {err:#}"));
    let mut per_file: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in &d.0 {
        per_file.entry(&e.file).or_default().push(&e.message);
        assert!(
            e.location.is_some(),
            "{}: `{}` has no line:column",
            e.file,
            e.message
        );
    }
    for s in &sources {
        let found = per_file.get(s.path.as_str()).map_or(0, Vec::len);
        assert_eq!(found, 1, "{}: {:?}", s.path, per_file.get(s.path.as_str()));
    }
    assert_eq!(d.0.len(), 10, "{d}");
    let snapshot = xtask_dir().join("test_data/tree/ten_mistakes.stderr");
    if let Some(f) = check_snapshot(&snapshot, &format!("{d}\n")) {
        finish(vec![f]);
    }
}

#[test]
fn every_bad_fixture_locates_its_errors() {
    for (_, source) in fixtures("bad") {
        let err = codegen::generate(std::slice::from_ref(&source)).expect_err("bad fixture");
        let d = err.downcast_ref::<Diagnostics>().expect("spec diagnostics");
        for e in &d.0 {
            assert!(
                e.location.is_some(),
                "{}: `{}` has no line:column",
                source.path,
                e.message
            );
        }
    }
}

#[test]
fn generated_schemas_are_valid_2020_12_objects() {
    let dir = codegen::project_root().join("generated/schemas");
    let mut count = 0;
    for entry in fs::read_dir(&dir).expect("generated/schemas exists") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let text = fs::read_to_string(&path).expect("readable");
        let schema: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
            panic!("{name} is not valid JSON Schema 2020-12: {e}");
        }
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}: $schema"
        );
        assert_eq!(schema["type"], "object", "{name}: root type must be object");
        if name.ends_with(".input.json") || name.ends_with(".validate.json") {
            assert_eq!(
                schema["additionalProperties"], false,
                "{name}: inputs must be closed"
            );
            let props = schema["properties"].as_object().expect("properties");
            for r in schema["required"].as_array().into_iter().flatten() {
                let r = r.as_str().expect("required names are strings");
                assert!(
                    props.contains_key(r),
                    "{name}: required `{r}` is not a property"
                );
            }
        } else {
            assert!(name.ends_with(".output.json"), "{name}: unexpected file");
        }
        if name.ends_with(".input.json") {
            // Published in tools/list: the Anthropic API rejects root combinators.
            for key in ["allOf", "anyOf", "oneOf", "if", "then", "else", "not"] {
                assert!(
                    schema.get(key).is_none(),
                    "{name}: a published input schema must not have a root `{key}`"
                );
            }
        }
        assert!(text.ends_with("}\n"), "{name}: must end with one newline");
        count += 1;
    }
    assert!(count >= 2, "no schemas found in {}", dir.display());
}

#[test]
fn generated_files_are_fresh() {
    if let Err(e) = codegen::run(&codegen::project_root(), true) {
        panic!("{e:#}");
    }
}

#[test]
fn generation_is_deterministic() {
    let sources = codegen::read_specs(&codegen::project_root()).expect("spec/ is readable");
    let a = codegen::generate(&sources).expect("spec/ is valid");
    let b = codegen::generate(&sources).expect("spec/ is valid");
    assert_eq!(a, b);
}

/// A scratch copy of the real spec/ in a fresh directory.
fn scratch_repo(tag: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("xtask-codegen-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let spec = codegen::project_root().join("spec/pingpp");
    fs::create_dir_all(root.join("spec/pingpp")).expect("mkdir");
    for entry in fs::read_dir(&spec).expect("spec/pingpp") {
        let p = entry.expect("entry").path();
        fs::copy(
            &p,
            root.join("spec/pingpp").join(p.file_name().expect("name")),
        )
        .expect("copy");
    }
    root
}

#[test]
fn check_mode_lists_stale_missing_and_orphaned_files_and_writes_nothing() {
    let root = scratch_repo("check");
    let err = codegen::run(&root, true).expect_err("nothing generated yet");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("missing: generated/src/tools/create_charge.rs"),
        "{msg}"
    );
    assert!(
        msg.ends_with("run `cargo xtask codegen` to update"),
        "{msg}"
    );
    assert!(!root.join("generated").exists(), "check mode wrote files");

    let report = codegen::run(&root, false).expect("write mode");
    assert!(report.changed.len() > 10);
    codegen::run(&root, true).expect("fresh after writing");

    fs::write(root.join("generated/schemas/gone.input.json"), "{}\n").expect("orphan");
    fs::write(
        root.join("generated/src/tools/create_charge.rs"),
        "// edited\n",
    )
    .expect("edit");
    let msg = format!("{:#}", codegen::run(&root, true).expect_err("stale"));
    assert!(
        msg.contains("stale: generated/src/tools/create_charge.rs"),
        "{msg}"
    );
    assert!(
        msg.contains("orphaned (no spec produces it): generated/schemas/gone.input.json"),
        "{msg}"
    );

    let report = codegen::run(&root, false).expect("write mode");
    assert_eq!(report.changed, vec!["generated/src/tools/create_charge.rs"]);
    assert_eq!(report.orphans, vec!["generated/schemas/gone.input.json"]);
    assert!(!root.join("generated/schemas/gone.input.json").exists());
    codegen::run(&root, true).expect("fresh again");
    fs::remove_dir_all(&root).expect("cleanup");
}

/// A YAML file as JSON, for checking it against spec/spec.schema.json.
fn yaml_to_json(text: &str) -> Value {
    let v: serde_yaml::Value = serde_yaml::from_str(text).expect("valid YAML");
    serde_json::to_value(v).expect("YAML maps to JSON")
}

#[test]
fn spec_schema_accepts_every_good_spec_and_rejects_unknown_keys() {
    let root = codegen::project_root();
    let text = fs::read_to_string(root.join("spec/spec.schema.json")).expect("spec.schema.json");
    let schema: Value = serde_json::from_str(&text).expect("JSON");
    jsonschema::draft202012::meta::validate(&schema).expect("spec.schema.json is 2020-12");
    let validator = jsonschema::draft202012::new(&schema).expect("compiles");
    let mut sources = codegen::read_specs(&root).expect("spec/");
    sources.extend(fixtures("ok").into_iter().map(|(_, s)| s));
    for s in &sources {
        let doc = yaml_to_json(&s.text);
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {}", s.path, errors.join("; "));
    }
    for name in [
        "unknown_key",
        "unknown_value",
        "unknown_type",
        "unknown_check",
        "unbounded_numbers",
        "max_depth_range",
        "money_without_reference",
    ] {
        let path = xtask_dir().join(format!("test_data/bad/{name}.yaml"));
        let doc = yaml_to_json(&fs::read_to_string(path).expect("fixture"));
        assert!(
            !validator.is_valid(&doc),
            "spec.schema.json accepts bad/{name}.yaml"
        );
    }
}
