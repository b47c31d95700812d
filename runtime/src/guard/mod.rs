//! Everything that stands between a validated call and the gateway: the operator's policy,
//! the user's confirmation, the idempotency guard and its state store, and the audit log.

pub mod audit;
pub mod confirm;
pub mod idempotency;
pub mod policy;
pub mod store;
