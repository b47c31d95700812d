//! Sends an SSE answer's priming event in the same write as the message that follows it.
//!
//! In session mode rmcp opens every POST's event stream with a priming event (an event id and a
//! retry interval, so a client can resume a dropped stream) before the tool has run. Written on
//! its own it costs a TCP segment, a wake-up of the client and a second read for every call;
//! held until the first message is ready (at most [`HOLD`]), both leave in one write. The bytes
//! and the events are unchanged: only where the body is cut into chunks moves.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::Response;
use http_body::{Body as HttpBody, Frame, SizeHint};

/// The longest the priming event waits for the first message.
pub const HOLD: Duration = Duration::from_millis(2);

/// `response`, its body coalesced when it is an event stream, and its first chunk read before
/// the response is handed on, so the head and the first events leave in one write too (within
/// [`HOLD`] and a little more; a stream that has nothing by then is handed on as it is).
pub async fn coalesce_sse(response: Response<Body>) -> Response<Body> {
    let sse = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !sse {
        return response;
    }
    let (parts, inner) = response.into_parts();
    let mut body = Coalesce {
        inner,
        state: State::Start,
        front: None,
    };
    let first = tokio::time::timeout(
        HOLD * 2,
        std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)),
    )
    .await;
    if let Ok(first) = first {
        body.front = Some(first);
    }
    Response::from_parts(parts, Body::new(body))
}

enum State {
    /// Nothing sent yet.
    Start,
    /// The first chunk, held until the next one is ready or the timer ends.
    Holding(Bytes, Pin<Box<tokio::time::Sleep>>),
    /// Chunks pass as they come; `Some` is a frame (or the end) read while holding, due next.
    Passing(Option<Option<Result<Frame<Bytes>, axum::Error>>>),
}

struct Coalesce {
    inner: Body,
    state: State,
    /// What was read before the response was handed on, due first.
    front: Option<Option<Result<Frame<Bytes>, axum::Error>>>,
}

impl HttpBody for Coalesce {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Some(front) = this.front.take() {
            return Poll::Ready(front);
        }
        loop {
            match &mut this.state {
                State::Start => match Pin::new(&mut this.inner).poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                        Ok(first) => {
                            this.state = State::Holding(first, Box::pin(tokio::time::sleep(HOLD)));
                        }
                        Err(frame) => {
                            this.state = State::Passing(None);
                            return Poll::Ready(Some(Ok(frame)));
                        }
                    },
                    other => {
                        if other.is_ready() {
                            this.state = State::Passing(None);
                        }
                        return other;
                    }
                },
                State::Holding(first, timer) => {
                    let next = match Pin::new(&mut this.inner).poll_frame(cx) {
                        Poll::Ready(next) => next,
                        Poll::Pending if timer.as_mut().poll(cx).is_pending() => {
                            return Poll::Pending;
                        }
                        Poll::Pending => {
                            let first = std::mem::take(first);
                            this.state = State::Passing(None);
                            return Poll::Ready(Some(Ok(Frame::data(first))));
                        }
                    };
                    let first = std::mem::take(first);
                    match next {
                        Some(Ok(frame)) if frame.is_data() => {
                            let second = frame.into_data().unwrap_or_default();
                            let mut both = Vec::with_capacity(first.len() + second.len());
                            both.extend_from_slice(&first);
                            both.extend_from_slice(&second);
                            this.state = State::Passing(None);
                            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(both)))));
                        }
                        other => {
                            this.state = State::Passing(Some(other));
                            return Poll::Ready(Some(Ok(Frame::data(first))));
                        }
                    }
                }
                State::Passing(due) => {
                    if let Some(next) = due.take() {
                        return Poll::Ready(next);
                    }
                    return Pin::new(&mut this.inner).poll_frame(cx);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.front.is_none()
            && matches!(self.state, State::Passing(None))
            && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            State::Passing(None) if self.front.is_none() => self.inner.size_hint(),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    /// A body of chunks a task sends `gap` apart.
    fn chunked(chunks: Vec<&'static str>, gap: Duration) -> Body {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
        tokio::spawn(async move {
            for c in chunks {
                tokio::time::sleep(gap).await;
                if tx.send(Bytes::from(c)).await.is_err() {
                    return;
                }
            }
        });
        Body::new(Channel(rx))
    }

    struct Channel(tokio::sync::mpsc::Receiver<Bytes>);

    impl HttpBody for Channel {
        type Data = Bytes;
        type Error = axum::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
            self.0.poll_recv(cx).map(|c| c.map(|c| Ok(Frame::data(c))))
        }
    }

    async fn frames(body: Body) -> Vec<Bytes> {
        let response = Response::builder()
            .header("content-type", "text/event-stream")
            .body(body)
            .unwrap();
        let mut body = coalesce_sse(response).await.into_body();
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            out.push(frame.unwrap().into_data().unwrap());
        }
        out
    }

    #[tokio::test]
    async fn a_quick_answer_leaves_with_its_priming_event() {
        let got = frames(chunked(
            vec!["prime\n\n", "data: 1\n\n", "data: 2\n\n"],
            Duration::ZERO,
        ))
        .await;
        assert_eq!(got.concat(), b"prime\n\ndata: 1\n\ndata: 2\n\n");
        assert_eq!(got[0], Bytes::from("prime\n\ndata: 1\n\n"), "{got:?}");
    }

    #[tokio::test]
    async fn a_slow_answer_does_not_hold_the_priming_event() {
        let got = frames(chunked(
            vec!["prime\n\n", "data: 1\n\n"],
            Duration::from_millis(60),
        ))
        .await;
        assert_eq!(
            got,
            vec![Bytes::from("prime\n\n"), Bytes::from("data: 1\n\n")]
        );
    }

    #[tokio::test]
    async fn other_bodies_pass_untouched() {
        let response = Response::builder()
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let body = coalesce_sse(response).await.into_body();
        assert_eq!(body.collect().await.unwrap().to_bytes(), Bytes::from("{}"));
    }
}
