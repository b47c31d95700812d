//! Hand-written: re-exports the code `cargo xtask codegen` writes under `tools/`,
//! `providers.rs` and `registry.rs`.
//!
//! Everything else in this crate is generated from spec/; edit the YAML and run
//! `cargo xtask codegen`, never the generated files.

#[rustfmt::skip]
pub mod providers;
#[rustfmt::skip]
pub mod tools;
#[rustfmt::skip]
mod registry;

pub use providers::PROVIDERS;

/// The tool reference `cargo xtask codegen` writes (docs/TOOLS.md), served as an MCP resource.
pub const TOOL_REFERENCE: &str = include_str!("../../docs/TOOLS.md");
pub use registry::TOOLS;
