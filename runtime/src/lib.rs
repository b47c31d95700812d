//! zhifu-mcp runtime: configuration, argument validation, the safety guard, provider protocols
//! and MCP dispatch over a tool table that the generator produces.
//!
//! Layers, top to bottom: `mcp` (the client-facing surface) → `engine` (orchestration) →
//! `guard` (policy, confirmation, idempotency, audit) and `providers` (one protocol module per
//! gateway) → `zhifu_signing` (pure). `tool` is the contract with the generated code.

pub mod checks;
pub mod composite;
pub mod config;
pub mod context;
pub mod engine;
pub mod error;
pub mod guard;
pub mod mcp;
pub mod money;
pub mod money_facts;
pub mod providers;
pub mod receive;
pub mod redact;
pub mod services;
pub mod time;
pub mod tool;
pub mod validate;

// Paths kept for the binary, the tests and the benches.
pub use guard::{audit, confirm, policy, store};
pub use mcp::{http_transport, server, stdio};
pub use providers::{alipay, http, pingpp};
// The pure signing layer lives in its own crate (shared with the sandbox).
pub use zhifu_signing as signing;
pub use zhifu_signing::{cert, keys};
