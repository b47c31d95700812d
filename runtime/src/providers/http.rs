//! One reused HTTP client with timeouts. Retries are decided by the caller, which knows whether a
//! retry could move money twice; this module only reports what happened.

use std::time::Duration;

use crate::tool::HttpMethod;

/// Connect timeout: a request that never connected was never sent.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole-request timeout (Ping++ SDKs use 80 s reads; agents should not wait that long).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A status, the headers and the raw body bytes (verification needs the exact bytes; some
/// gateways sign their answers in headers).
#[derive(Debug, Clone, Default)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names lower-cased, values as received (non-UTF-8 values dropped).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why no response arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportError {
    /// The connection was never made: the request was not sent, so a retry is always safe.
    NotSent,
    /// Sent, but no complete answer in time: the outcome is unknown.
    Timeout,
    /// Sent, and the connection broke (reset, garbled framing): the outcome is unknown.
    Broken,
}

impl TransportError {
    pub fn describe(self) -> &'static str {
        match self {
            TransportError::NotSent => {
                "could not connect to the gateway (the request was not sent)"
            }
            TransportError::Timeout => "the gateway did not answer in time",
            TransportError::Broken => {
                "the connection to the gateway broke before a complete answer arrived"
            }
        }
    }
}

/// The shared client.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
}

impl Http {
    pub fn new() -> Self {
        Self::with_timeout(REQUEST_TIMEOUT)
    }

    pub fn with_timeout(timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            // reqwest's default too (0.13): small signed requests leave at once, no Nagle wait.
            .tcp_nodelay(true)
            .build()
            .expect("the HTTP client configuration is static and valid");
        Http { client }
    }

    /// Sends exactly `body` (if any) with `headers` to `url`.
    pub async fn send(
        &self,
        method: HttpMethod,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<HttpResponse, TransportError> {
        let method = match method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
            HttpMethod::Delete => reqwest::Method::DELETE,
        };
        let mut request = self.client.request(method, url);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        if let Some(body) = body {
            request = request.body(body.to_vec());
        }
        let response = request.send().await.map_err(classify)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let body = response.bytes().await.map_err(classify)?.to_vec();
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

/// A response whose body is read a chunk at a time (a bill file is never held whole).
pub struct Download {
    pub status: u16,
    /// `Content-Length`, when the server sent one.
    pub length: Option<u64>,
    response: reqwest::Response,
}

impl Download {
    /// The next piece of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Vec<u8>>, TransportError> {
        self.response
            .chunk()
            .await
            .map(|c| c.map(|b| b.to_vec()))
            .map_err(classify)
    }
}

impl Http {
    /// GETs `url`; the body is read with [`Download::chunk`].
    pub async fn download(&self, url: &str) -> Result<Download, TransportError> {
        let response = self.client.get(url).send().await.map_err(classify)?;
        Ok(Download {
            status: response.status().as_u16(),
            length: response.content_length(),
            response,
        })
    }
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

fn classify(err: reqwest::Error) -> TransportError {
    if err.is_connect() {
        TransportError::NotSent
    } else if err.is_timeout() {
        TransportError::Timeout
    } else {
        TransportError::Broken
    }
}
