//! The boundary between provider knowledge and the runtime: no tool name, provider error code or
//! provider field name appears as a string literal in `runtime/src` outside the provider
//! modules (`providers/`, and `composite/`, whose modules are operations of one provider each).
//! Such knowledge belongs in the spec, where the generator checks it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use zhifu_generated::{PROVIDERS, TOOLS};

/// Literals allowed for now, each with the reason.
const ALLOWED: &[(&str, &str)] = &[
    // The official Alipay MCP server's AP_SELECT_TOOLS names (issue 12.6 moves them into the
    // spec's alias declarations).
    ("config.rs", "create_wap_payment_url"),
    ("config.rs", "create_page_payment_url"),
    ("config.rs", "query_trade"),
    ("config.rs", "refund_trade"),
    ("config.rs", "query_refund"),
];

/// Folders of `runtime/src` that hold one provider's code.
const PROVIDER_DIRS: &[&str] = &["providers", "composite"];

/// Literals the scan must not find, each with what it is.
fn forbidden() -> Vec<(String, &'static str)> {
    let mut out: BTreeSet<(String, &'static str)> = BTreeSet::new();
    for tool in TOOLS {
        out.insert((tool.name.to_string(), "tool name"));
        for p in tool.params {
            // Names with an underscore are the provider's own (`out_trade_no`, `charge_id`);
            // single words (`amount`, `channel`) are ordinary English in the runtime too.
            if p.name.contains('_') {
                out.insert((p.name.to_string(), "provider field"));
            }
        }
    }
    for def in PROVIDERS {
        for rule in def.errors {
            let w = &rule.when;
            for code in [w.error_type, w.code, w.sub_code].into_iter().flatten() {
                let code = code.trim_matches('*');
                if code.len() > 3 {
                    out.insert((code.to_string(), "error code"));
                }
            }
        }
        for name in def.secret_fields {
            if name.contains('_') {
                out.insert((name.to_string(), "secret field"));
            }
        }
    }
    out.into_iter().collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !PROVIDER_DIRS.contains(&path.file_name().unwrap().to_str().unwrap()) {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The string literals of a source file outside its `#[cfg(test)]` module, with line numbers.
fn literals(src: &str) -> Vec<(usize, String)> {
    let src = src.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = Vec::new();
    let bytes = src.as_bytes();
    let mut i = 0;
    let mut line = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => line += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'\'' if bytes.get(i + 2) == Some(&b'\'') => i += 2,
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < bytes.len() && bytes[j] != b'"' {
                    if bytes[j] == b'\\' {
                        j += 1;
                    }
                    j += 1;
                }
                let text = &src[start..j.min(src.len())];
                out.push((line, text.to_string()));
                line += text.matches('\n').count();
                i = j;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

#[test]
fn provider_knowledge_stays_in_the_spec_and_the_provider_modules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    assert!(
        files.len() > 10,
        "runtime sources not found at {}",
        root.display()
    );
    let forbidden = forbidden();
    assert!(
        forbidden.iter().any(|(f, _)| f == "create_charge")
            && forbidden.iter().any(|(f, _)| f == "out_trade_no")
            && forbidden.iter().any(|(f, _)| f == "ACQ.TRADE_NOT_EXIST"),
        "the forbidden set is built from the spec"
    );
    let mut found = Vec::new();
    for file in &files {
        let src = std::fs::read_to_string(file).unwrap();
        for (line, lit) in literals(&src) {
            for (word, what) in &forbidden {
                let hit = lit == *word
                    || (what == &"error code" && lit.contains(word.as_str()))
                    || lit.contains(&format!("`{word}`"));
                let rel = file.strip_prefix(&root).unwrap().display().to_string();
                if hit && !ALLOWED.contains(&(rel.as_str(), word.as_str())) {
                    found.push(format!(
                        "runtime/src/{rel}:{line}: {what} `{word}` in \"{lit}\""
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "provider knowledge outside the provider modules (move it into spec/):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scan_finds_what_it_looks_for() {
    let src = "fn f() {\n    let x = \"query_trade\"; // \"not_this\"\n}\n#[cfg(test)]\nmod t { \"hidden\" }";
    let lits = literals(src);
    assert_eq!(lits, vec![(2, "query_trade".to_string())]);
}
