//! The accept loop. Hand-rolled (rather than `axum::serve`) so a response marked
//! [`DropConnection`] closes the TCP connection without sending anything: the "reset" fault.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower_service::Service as _;

/// Response extension: close the connection instead of answering.
#[derive(Clone, Copy, Debug)]
pub struct DropConnection;

/// Runs a gateway request in its own task: like a real gateway, the sandbox finishes what it
/// received even when the client hangs up first (e.g. after its timeout during a latency fault),
/// so a dropped connection never cancels an operation half-way or silently skips it.
pub async fn detached(
    request: impl std::future::Future<Output = axum::response::Response> + Send + 'static,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match tokio::spawn(request).await {
        Ok(response) => response,
        Err(err) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("sandbox request task failed: {err}"),
        )
            .into_response(),
    }
}

/// Serves `router` on `listener` until `stop` turns true; open connections are closed then too.
pub async fn serve(listener: TcpListener, router: Router, mut stop: watch::Receiver<bool>) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!(%err, "sandbox accept failed");
                    continue;
                }
            },
            _ = stop.wait_for(|stopped| *stopped) => return,
        };
        // Answers go out at once (no Nagle wait for the client's delayed ACK), as on the server's
        // own listeners (zhifu_runtime::http_transport::serve_router).
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%err, "sandbox could not set TCP_NODELAY");
        }
        let router = router.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let drop_now = Arc::new(Notify::new());
            let trigger = drop_now.clone();
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let mut router = router.clone();
                let trigger = trigger.clone();
                async move {
                    let response = router.call(req.map(axum::body::Body::new)).await?;
                    if response.extensions().get::<DropConnection>().is_some() {
                        trigger.notify_one();
                        std::future::pending::<()>().await;
                    }
                    Ok::<_, Infallible>(response)
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                result = connection => {
                    if let Err(err) = result {
                        tracing::debug!(%err, "sandbox connection ended with an error");
                    }
                }
                // Dropping the connection future closes the socket with nothing written.
                _ = drop_now.notified() => tracing::info!("sandbox fault: connection dropped without a response"),
                _ = stop.wait_for(|stopped| *stopped) => {}
            }
        });
    }
}
