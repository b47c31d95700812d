//! Release builds of the binary place the code a session runs together (packaging/code-order.txt).
//!
//! The kernel maps a binary's code in 64 KiB windows around each page a process touches; the
//! functions a session runs (about 2.5 MB) spread over 18 MB of `.text` made nearly all of it
//! resident. Listed first by the linker, they are resident alone (docs/PERFORMANCE.md, "Peak
//! RSS"). Only where the linker is LLD: x86_64 Linux GNU, rustc's default linker there. Set
//! `ZHIFU_CODE_ORDER=0` to link without it (another linker); scripts/code-order.py writes the list.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=packaging/code-order.txt");
    println!("cargo:rerun-if-env-changed=ZHIFU_CODE_ORDER");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let wanted = var("ZHIFU_CODE_ORDER") != "0";
    let release = var("PROFILE") == "release";
    let lld_target = var("TARGET") == "x86_64-unknown-linux-gnu";
    let order = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join("packaging/code-order.txt");
    if wanted && release && lld_target && order.exists() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        // Functions renamed since the list was written are simply placed as usual.
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
