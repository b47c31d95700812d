//! The MCP surface: the `ServerHandler` over the tool table, its transports (stdio, Streamable
//! HTTP) and how results are presented to a client.

pub mod http_transport;
pub mod prompts;
pub mod reference;
pub mod resources;
pub mod server;
pub mod sse_coalesce;
pub mod stdio;
pub mod summary;
