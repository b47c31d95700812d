//! Release builds of the binary place the code a session runs together (packaging/code-order.txt).
//!
//! The kernel maps a binary's code in 64 KiB windows around each page a process touches; the
//! functions a session runs (about 2.5 MB) spread over 18 MB of `.text` made nearly all of it
//! resident. Listed first by the linker, they are resident alone (docs/PERFORMANCE.md, "Peak
//! RSS"). Only where the linker is surely LLD: x86_64 Linux GNU with rustc 1.90 or later (its
//! default linker there) and no linker chosen by the user. `ZHIFU_CODE_ORDER=0` links without
//! it; scripts/code-order.py writes the list.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=packaging/code-order.txt");
    println!("cargo:rerun-if-env-changed=ZHIFU_CODE_ORDER");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let wanted = var("ZHIFU_CODE_ORDER") != "0";
    let release = var("PROFILE") == "release";
    let order = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join("packaging/code-order.txt");
    if wanted && release && order.exists() && linker_is_rust_lld(&var) {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        // Functions renamed since the list was written are simply placed as usual.
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// rustc links x86_64-unknown-linux-gnu binaries with its own LLD from 1.90 on, unless a linker
/// is configured (`linker =`, `-C linker`, `-fuse-ld`, or LLD switched off).
fn linker_is_rust_lld(var: &dyn Fn(&str) -> String) -> bool {
    if var("TARGET") != "x86_64-unknown-linux-gnu" || !var("RUSTC_LINKER").is_empty() {
        return false;
    }
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    if ["linker", "fuse-ld", "lld"]
        .iter()
        .any(|f| flags.contains(f))
    {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("-V").output() else {
        return false;
    };
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let text = String::from_utf8_lossy(&out.stdout);
    let mut version = text
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split(['.', '-'])
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (version.next().unwrap_or(0), version.next().unwrap_or(0));
    (major, minor) >= (1, 90)
}
