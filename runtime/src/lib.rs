//! zhifu-mcp runtime: configuration, keys, pure signing, HTTP, provider protocols, argument
//! validation and MCP dispatch over a tool table that the generator produces.

pub mod alipay;
pub mod audit;
pub mod cert;
pub mod config;
pub mod confirm;
pub mod engine;
pub mod error;
pub mod http;
pub mod http_transport;
pub mod keys;
pub mod local;
pub mod money;
pub mod pingpp;
pub mod policy;
pub mod server;
pub mod signing;
pub mod stdio;
pub mod store;
pub mod tool;
pub mod validate;
