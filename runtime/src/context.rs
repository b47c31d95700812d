//! What a running call can tell its client (progress) and hear from it (cancellation).
//!
//! The MCP layer builds one [`CallContext`] per `tools/call` from the request's progress token
//! and cancellation token; the engine hands it to operations that take long (paging through a
//! list, downloading a bill, waiting for a payment). Other callers pass [`CallContext::none`].

use std::sync::Arc;

pub use tokio_util::sync::CancellationToken;

/// One progress report: `progress` grows on every report; `total` when it is known.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub progress: f64,
    pub total: Option<f64>,
    pub message: Option<String>,
}

/// Where progress reports go (the MCP layer forwards them, in order, as notifications).
pub type ProgressSink = Arc<dyn Fn(Progress) + Send + Sync>;

/// The client's side of one call.
#[derive(Clone, Default)]
pub struct CallContext {
    sink: Option<ProgressSink>,
    cancel: CancellationToken,
}

impl CallContext {
    /// No progress wanted, never cancelled.
    pub fn none() -> Self {
        Self::default()
    }

    /// A call whose client may want progress (`sink`) and may cancel (`cancel`).
    pub fn new(sink: Option<ProgressSink>, cancel: CancellationToken) -> Self {
        CallContext { sink, cancel }
    }

    /// Whether the client asked for progress reports.
    pub fn wants_progress(&self) -> bool {
        self.sink.is_some()
    }

    /// Reports progress, when the client asked for it.
    pub fn progress(&self, progress: f64, total: Option<f64>, message: impl Into<String>) {
        if let Some(sink) = &self.sink {
            sink(Progress {
                progress,
                total,
                message: Some(message.into()),
            });
        }
    }

    /// Whether the client cancelled the call.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Resolves when the client cancels (for `tokio::select!` around a long wait).
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }
}

impl std::fmt::Debug for CallContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext")
            .field("progress", &self.sink.is_some())
            .field("cancelled", &self.cancel.is_cancelled())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn reports_reach_the_sink_in_order_and_none_reports_nothing() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let ctx = CallContext::new(
            Some(Arc::new(move |p: Progress| {
                s.lock().unwrap().push(p.progress)
            })),
            CancellationToken::new(),
        );
        assert!(ctx.wants_progress());
        ctx.progress(1.0, None, "a");
        ctx.progress(2.0, Some(3.0), "b");
        assert_eq!(*seen.lock().unwrap(), vec![1.0, 2.0]);
        let quiet = CallContext::none();
        assert!(!quiet.wants_progress());
        quiet.progress(1.0, None, "ignored");
        assert!(!quiet.is_cancelled());
    }

    #[test]
    fn cancelling_the_token_cancels_the_call() {
        let token = CancellationToken::new();
        let ctx = CallContext::new(None, token.clone());
        assert!(!ctx.is_cancelled());
        token.cancel();
        assert!(ctx.is_cancelled());
    }
}
