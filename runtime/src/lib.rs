//! zhifu-mcp runtime: configuration, keys, pure signing, HTTP, provider protocols, argument
//! validation and MCP dispatch over a tool table that the generator produces.

pub mod alipay;
pub mod audit;
pub mod config;
pub mod confirm;
pub mod engine;
pub mod error;
pub mod http;
pub mod http_transport;
pub mod local;
pub mod money;
pub mod pingpp;
pub mod policy;
pub mod redact;
pub mod server;
pub mod store;
pub mod tool;
pub mod validate;

// The pure signing layer lives in its own crate (shared with the sandbox); these paths stay.
pub use zhifu_signing as signing;
pub use zhifu_signing::{cert, keys};
