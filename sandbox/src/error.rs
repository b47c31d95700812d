//! Ping++ error bodies (`{"error":{"type","message","param","code"}}`) and JSON responses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

/// Content type Ping++ answers with (shared/reference/pingpp.md §1).
pub const JSON_CONTENT_TYPE: &str = "application/json;charset=utf-8";

/// One error answer in Ping++'s shape.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
    pub param: Option<String>,
    pub code: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// 400 `invalid_request_error` without a parameter.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// 400 `invalid_request_error` naming the offending parameter.
    pub fn param(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(message).with_param(param)
    }

    /// 401 `invalid_request_error` (bad or missing API key).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_request_error", message)
    }

    /// 404 in the observed form `未找到 charge : ch_…。` with `param: "id"`.
    pub fn not_found(object: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("未找到 {object} : {id}。"),
        )
        .with_param("id")
    }

    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            param: None,
            code: None,
        }
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("type".into(), self.kind.into());
        error.insert("message".into(), self.message.clone().into());
        if let Some(code) = &self.code {
            error.insert("code".into(), code.clone().into());
        }
        if let Some(param) = &self.param {
            error.insert("param".into(), param.clone().into());
        }
        serde_json::json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, &self.body())
    }
}

/// A JSON answer with Ping++'s content type.
pub fn json_response(status: StatusCode, value: &Value) -> Response {
    text_response(status, value.to_string())
}

/// A pre-serialized JSON answer (used where the exact bytes matter, e.g. events).
pub fn text_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
    response
}
