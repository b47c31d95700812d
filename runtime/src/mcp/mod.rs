//! The MCP surface: how results are presented to a client (the handler and transports join
//! this folder).

pub mod summary;
