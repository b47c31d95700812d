//! spec/ → generated/: load, check and lower to a sorted model, emit, and write or check.
//!
//! The stages call one way: `load` (YAML → `spec` structs, item by item) → `lower` (semantic
//! checks → `model`) → `emit_*` (model → files). Emitters only read the model.
//! `generate` is pure (sources in, file contents out) so tests can run it on fixtures; `run` adds
//! the file system: reading spec/, comparing with what is on disk, writing or reporting.

pub mod diag;
pub mod emit_docs;
pub mod emit_rust;
pub mod emit_schema;
pub mod load;
pub mod lower;
pub mod model;
pub mod spec;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

pub use diag::{Diagnostic, Diagnostics};
pub use load::Source;

/// Directories whose every file must come from the current spec (others are orphans). The
/// single generated files outside them (`generated/src/providers.rs`,
/// `generated/src/registry.rs`) are always emitted, so freshness covers them and they are never
/// orphans.
pub const OWNED_DIRS: [&str; 2] = ["generated/src/tools", "generated/schemas"];

/// Generated files by path relative to the repository root, sorted.
pub type Files = BTreeMap<String, String>;

/// Loads, checks and emits. Spec mistakes come back as a `Diagnostics` error (downcast it), every
/// independent one at once; any other error is a generator bug.
pub fn generate(sources: &[Source]) -> Result<Files> {
    let mut errors = Vec::new();
    let mut loaded = Vec::new();
    for src in sources {
        let (file, file_errors) = load::load(src);
        errors.extend(file_errors);
        loaded.push(file);
    }
    let model = lower::lower(&loaded);
    if let Err(e) = &model {
        errors.extend(e.iter().cloned());
    }
    if !errors.is_empty() {
        let mut d = Diagnostics(errors);
        d.sort();
        return Err(d.into());
    }
    emit(&model.expect("no errors means a model"))
}

/// Emits every file for a valid model.
pub fn emit(model: &model::Model) -> Result<Files> {
    let mut files = Files::new();
    let tools: Vec<&model::Tool> = model.tools.values().collect();
    for t in &tools {
        let validate = emit_schema::input_schema(t);
        let input = emit_schema::published_input_schema(&validate);
        let output = emit_schema::output_schema(t);
        for (kind, schema) in [
            ("input", &input),
            ("validate", &validate),
            ("output", &output),
        ] {
            if let Err(e) = jsonschema::draft202012::meta::validate(schema) {
                bail!(
                    "generator bug: the {kind} schema of `{}` is not valid JSON Schema 2020-12: {e}",
                    t.name
                );
            }
            files.insert(
                format!("generated/schemas/{}.{kind}.json", t.name),
                emit_schema::to_text(schema),
            );
        }
        for alias in &t.aliases {
            let schema = emit_schema::alias_input_schema(t, alias);
            if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
                bail!(
                    "generator bug: the input schema of alias `{}` is not valid JSON Schema 2020-12: {e}",
                    alias.name
                );
            }
            files.insert(
                format!("generated/schemas/{}.input.json", alias.name),
                emit_schema::to_text(&schema),
            );
        }
        files.insert(
            format!("generated/src/tools/{}.rs", t.module),
            emit_rust::tool_module(t),
        );
    }
    files.insert(
        "generated/src/tools/mod.rs".to_owned(),
        emit_rust::tools_mod(&tools),
    );
    files.insert(
        "generated/src/registry.rs".to_owned(),
        emit_rust::registry(&tools),
    );
    files.insert(
        "generated/src/providers.rs".to_owned(),
        emit_rust::providers_module(&model.providers),
    );
    files.insert("docs/TOOLS.md".to_owned(), emit_docs::tools_md(model));
    Ok(files)
}

/// Reads every `spec/**/*.yaml` under `root`, sorted by path.
pub fn read_specs(root: &Path) -> Result<Vec<Source>> {
    let mut paths = Vec::new();
    collect(&root.join("spec"), &mut paths)?;
    paths.sort();
    paths
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .map(|p| {
            let text =
                fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
            Ok(Source {
                path: relative(root, &p),
                text,
            })
        })
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn relative(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// What a run did (or, in check mode, would do).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Files whose content changed (written, or stale in check mode).
    pub changed: Vec<String>,
    /// Files no spec produces (deleted, or reported in check mode).
    pub orphans: Vec<String>,
    /// Files already up to date.
    pub unchanged: usize,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.changed {
            writeln!(f, "updated {c}")?;
        }
        for o in &self.orphans {
            writeln!(f, "deleted {o}")?;
        }
        write!(
            f,
            "codegen: {} updated, {} deleted, {} unchanged",
            self.changed.len(),
            self.orphans.len(),
            self.unchanged
        )
    }
}

/// Files under `OWNED_DIRS` on disk, relative to `root`.
fn owned_files(root: &Path) -> Result<BTreeSet<String>> {
    let mut paths = Vec::new();
    for d in OWNED_DIRS {
        collect(&root.join(d), &mut paths)?;
    }
    Ok(paths.iter().map(|p| relative(root, p)).collect())
}

/// `cargo xtask codegen [--check]` against the repository at `root`.
///
/// Check mode writes nothing and fails listing every stale, missing and orphaned file.
pub fn run(root: &Path, check: bool) -> Result<Report> {
    let sources = read_specs(root)?;
    let files = generate(&sources)?;
    let mut report = Report::default();
    for (path, content) in &files {
        let on_disk = fs::read_to_string(root.join(path)).ok();
        if on_disk.as_deref().map(normalize_newlines) == Some(content.clone()) {
            report.unchanged += 1;
        } else {
            report.changed.push(path.clone());
        }
    }
    report.orphans = owned_files(root)?
        .into_iter()
        .filter(|p| !files.contains_key(p))
        .collect();
    if check {
        if report.changed.is_empty() && report.orphans.is_empty() {
            return Ok(report);
        }
        let mut msg = String::from("generated files are out of date:\n");
        for c in &report.changed {
            let what = if root.join(c).exists() {
                "stale"
            } else {
                "missing"
            };
            msg.push_str(&format!("  {what}: {c}\n"));
        }
        for o in &report.orphans {
            msg.push_str(&format!("  orphaned (no spec produces it): {o}\n"));
        }
        msg.push_str("run `cargo xtask codegen` to update");
        bail!(msg);
    }
    for c in &report.changed {
        let path = root.join(c);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        fs::write(&path, &files[c]).with_context(|| format!("writing {}", path.display()))?;
    }
    for o in &report.orphans {
        let path = root.join(o);
        fs::remove_file(&path).with_context(|| format!("deleting {}", path.display()))?;
    }
    Ok(report)
}

fn normalize_newlines(s: &str) -> String {
    s.replace("\r\n", "\n")
}

/// The repository root (the parent of the xtask crate).
pub fn project_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the repository root")
        .to_path_buf()
}
