//! The `xtask` library: `cargo xtask codegen` turns spec/ YAML into generated/ Rust, JSON Schemas
//! and docs/TOOLS.md. A library so that tests can drive it directly.

pub mod codegen;
