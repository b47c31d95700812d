//! `/gateway.do`: merges the form-decoded query and body, runs the common-parameter checks in a
//! fixed order (alipay.md §7, §11), verifies the RSA2 signature, decodes `biz_content` and runs
//! the method on the locked store. Answers are compact JSON, root object first, optional
//! `alipay_cert_sn`, `sign` last, signed over the exact root-object bytes; rejections that happen
//! before the app is identified are unsigned `error_response` bodies.

use std::sync::Arc;

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};
use zhifu_signing::alipay::{
    ERROR_RESPONSE, build_response_body, parse_beijing_timestamp, response_root_key, sign_content,
    verify_params,
};

use super::AlipayApp;
use super::biz::{Biz, GwError, GwResult, Root};
use super::{bills, oauth, page, refunds, trades, transfers};
use crate::App;
use crate::faults::{FaultKind, InFlight};
use crate::server::DropConnection;
use crate::store::{Store, lock, unix_now};

/// Content type of every gateway answer (the real gateway labels its JSON `text/html`).
pub const CONTENT_TYPE: &str = "text/html;charset=utf-8";

/// Largest request accepted.
const MAX_BODY: usize = 1 << 20;

/// How far a request `timestamp` may be from the real clock (the client's clock signs it).
pub const TIMESTAMP_WINDOW_SECONDS: i64 = 600;

/// What a method handler gets.
pub struct Ctx<'a> {
    pub app: &'a AlipayApp,
    pub store: &'a mut Store,
    /// Every request parameter, decoded, in the order received (query first, then body).
    pub params: &'a [(String, String)],
    pub biz: Biz,
}

impl Ctx<'_> {
    /// A top-level parameter; empty values count as absent.
    pub fn param(&self, key: &str) -> Option<String> {
        first(self.params, key).map(str::to_string)
    }

    /// The sandbox clock (trade times, "today" for bills).
    pub fn now(&self) -> i64 {
        self.store.now()
    }
}

type Handler = fn(&mut Ctx) -> GwResult<Map<String, Value>>;

/// How a method carries its arguments and what it answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Business arguments in `biz_content`; JSON answer.
    Biz,
    /// Top-level arguments only (oauth.token, user.info.share); JSON answer.
    TopLevel,
    /// Page-jump payment (page.pay / wap.pay) opened by a browser: an HTML cashier page.
    Page,
}

/// Every method the gateway serves.
const METHODS: &[(&str, Kind, Handler)] = &[
    ("alipay.trade.create", Kind::Biz, trades::create),
    ("alipay.trade.precreate", Kind::Biz, trades::precreate),
    ("alipay.trade.query", Kind::Biz, trades::query),
    ("alipay.trade.close", Kind::Biz, trades::close),
    ("alipay.trade.cancel", Kind::Biz, trades::cancel),
    ("alipay.trade.page.pay", Kind::Page, page::page_pay),
    ("alipay.trade.wap.pay", Kind::Page, page::page_pay),
    ("alipay.trade.refund", Kind::Biz, refunds::refund),
    (
        "alipay.trade.fastpay.refund.query",
        Kind::Biz,
        refunds::query,
    ),
    (
        "alipay.fund.trans.uni.transfer",
        Kind::Biz,
        transfers::transfer,
    ),
    (
        "alipay.fund.trans.common.query",
        Kind::Biz,
        transfers::query,
    ),
    (
        "alipay.data.dataservice.bill.downloadurl.query",
        Kind::Biz,
        bills::download_url_query,
    ),
    ("alipay.system.oauth.token", Kind::TopLevel, oauth::token),
    ("alipay.user.info.share", Kind::TopLevel, oauth::user_info),
];

fn lookup(method: &str) -> Option<(Kind, Handler)> {
    METHODS
        .iter()
        .find(|(name, _, _)| *name == method)
        .map(|&(_, kind, handler)| (kind, handler))
}

/// The first non-empty value of `key`.
fn first<'p>(params: &'p [(String, String)], key: &str) -> Option<&'p str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, then percent-decoding (invalid
/// UTF-8 is replaced, never rejected). Empty pieces are skipped.
pub fn parse_form(raw: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    raw.split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// A finished answer.
struct Reply {
    body: String,
    html: bool,
}

impl Reply {
    fn json(body: String) -> Self {
        Self { body, html: false }
    }
}

/// The body of a JSON answer: signed with the sandbox Alipay key (and carrying `alipay_cert_sn`
/// in certificate mode) or, for rejections before the app is known, unsigned.
fn body(app: &AlipayApp, root_key: &str, content: &Map<String, Value>, signed: bool) -> String {
    let content = Value::Object(content.clone()).to_string();
    if signed {
        let sn = app.cert.as_ref().map(|c| c.alipay_cert_sn.as_str());
        build_response_body(&app.alipay_private, root_key, &content, sn)
    } else {
        format!("{{{}:{content}}}", Value::from(root_key))
    }
}

/// The answer to one gateway request (after accounting and faults).
fn process(app: &App, params: &[(String, String)], content_type_ok: bool) -> Reply {
    let alipay = &app.alipay;
    let unsigned = |err: GwError| Reply::json(body(alipay, ERROR_RESPONSE, &err.content(), false));
    if !content_type_ok {
        return unsigned(GwError::invalid(
            "isv.invalid-content-type",
            "无效的 Content-Type，只支持 application/x-www-form-urlencoded",
        ));
    }
    let identified = first(params, "app_id") == Some(alipay.app_id.as_str());
    // Without a method there is no method root key: `error_response`, signed once the app is known.
    let Some(method) = first(params, "method") else {
        let err = GwError::missing("isv.missing-method", "缺少方法名参数");
        return Reply::json(body(alipay, ERROR_RESPONSE, &err.content(), identified));
    };
    let Some((kind, handler)) = lookup(method) else {
        let err = GwError::invalid("isv.invalid-method", "不存在的方法名");
        return Reply::json(body(alipay, ERROR_RESPONSE, &err.content(), identified));
    };
    match first(params, "app_id") {
        None => return unsigned(GwError::missing("isv.missing-app-id", "缺少AppID参数")),
        Some(id) if id != alipay.app_id => {
            return unsigned(GwError::invalid("isv.invalid-app-id", "无效的AppID参数"));
        }
        Some(_) => {}
    }
    let root_key = response_root_key(method);
    let outcome = checks(alipay, params).and_then(|()| {
        let biz = match kind {
            Kind::TopLevel => Biz::default(),
            Kind::Biz | Kind::Page => biz_content(params)?,
        };
        let mut store = lock(&app.store);
        let mut ctx = Ctx {
            app: alipay,
            store: &mut store,
            params,
            biz,
        };
        handler(&mut ctx)
    });
    if kind == Kind::Page {
        return Reply {
            body: page::cashier_page(method, &outcome),
            html: true,
        };
    }
    match outcome {
        Ok(fields) => {
            let mut content = Map::new();
            content.insert("code".into(), "10000".into());
            content.insert("msg".into(), "Success".into());
            content.extend(fields);
            Reply::json(body(alipay, &root_key, &content, true))
        }
        Err(err) => {
            let root = match err.root {
                Root::Method => root_key.as_str(),
                Root::ErrorResponse => ERROR_RESPONSE,
            };
            Reply::json(body(alipay, root, &err.content(), true))
        }
    }
}

/// Common-parameter checks once the app is identified, in the order the sandbox applies them.
fn checks(app: &AlipayApp, params: &[(String, String)]) -> GwResult<()> {
    for (i, (key, _)) in params.iter().enumerate() {
        if params[..i].iter().any(|(k, _)| k == key) {
            return Err(GwError::invalid(
                "isv.invalid-parameter",
                format!("参数无效：参数 {key} 重复出现"),
            ));
        }
    }
    let p = |key: &str| first(params, key);
    let sign =
        p("sign").ok_or_else(|| GwError::missing("isv.missing-signature", "缺少签名参数"))?;
    let sign_type = p("sign_type")
        .ok_or_else(|| GwError::missing("isv.missing-signature-type", "缺少签名类型参数"))?;
    let timestamp = p("timestamp")
        .ok_or_else(|| GwError::missing("isv.missing-timestamp", "缺少时间戳参数"))?;
    p("version").ok_or_else(|| GwError::missing("isv.missing-version", "缺少版本参数"))?;
    if let Some(charset) = p("charset")
        && !charset.eq_ignore_ascii_case("utf-8")
    {
        return Err(GwError::invalid(
            "isv.invalid-charset",
            format!("字符集错误：不支持 {charset}，沙箱只支持 utf-8"),
        ));
    }
    if sign_type != "RSA2" {
        return Err(GwError::invalid(
            "isv.invalid-signature-type",
            format!("无效的签名类型：{sign_type}，只支持 RSA2"),
        ));
    }
    if let Some(format) = p("format")
        && !format.eq_ignore_ascii_case("json")
    {
        return Err(GwError::invalid("isv.invalid-format", "无效的数据格式"));
    }
    match parse_beijing_timestamp(timestamp) {
        Some(ts) if (ts - unix_now()).abs() <= TIMESTAMP_WINDOW_SECONDS => {}
        _ => {
            return Err(GwError::invalid(
                "isv.invalid-timestamp",
                "非法的时间戳参数（格式 yyyy-MM-dd HH:mm:ss，北京时间，与网关时间相差不超过 10 分钟）",
            ));
        }
    }
    if let Some(cert) = &app.cert {
        match p("app_cert_sn") {
            Some(sn) if sn == cert.app_cert_sn => {}
            Some(_) => {
                return Err(GwError::invalid(
                    "isv.invalid-app-cert-sn",
                    "应用公钥证书序列号 app_cert_sn 与应用上传的证书不匹配",
                ));
            }
            None => {
                return Err(GwError::invalid(
                    "isv.invalid-app-cert-sn",
                    "公钥证书模式下缺少应用公钥证书序列号 app_cert_sn",
                ));
            }
        }
        match p("alipay_root_cert_sn") {
            Some(sn) if sn == cert.root_cert_sn => {}
            Some(_) => {
                return Err(GwError::invalid(
                    "isv.invalid-alipay-root-cert-sn",
                    "支付宝根证书序列号 alipay_root_cert_sn 不正确",
                ));
            }
            None => {
                return Err(GwError::invalid(
                    "isv.invalid-alipay-root-cert-sn",
                    "公钥证书模式下缺少支付宝根证书序列号 alipay_root_cert_sn",
                ));
            }
        }
    }
    let pairs = params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    if !verify_params(&app.app_public, pairs.clone(), sign) {
        let content = sign_content(pairs);
        return Err(GwError::invalid(
            "isv.invalid-signature",
            format!(
                "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：{}",
                content.replace('&', "&amp;")
            ),
        ));
    }
    Ok(())
}

/// `biz_content` as a JSON object; absent means no business arguments (the method then reports
/// what is missing). Anything that is not a JSON object is rejected.
fn biz_content(params: &[(String, String)]) -> GwResult<Biz> {
    let Some(text) = first(params, "biz_content") else {
        return Ok(Biz::default());
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(Biz(map)),
        _ => Err(GwError::invalid(
            "isv.invalid-parameter",
            "参数无效：biz_content 不是合法的 JSON 对象",
        )),
    }
}

/// The stats / fault name of a request: its method when the gateway knows it.
fn route_name(params: &[(String, String)]) -> String {
    match first(params, "method") {
        Some(m) if lookup(m).is_some() => m.to_string(),
        Some(_) => "gateway.do (unknown method)".to_string(),
        None => "gateway.do (no method)".to_string(),
    }
}

fn respond(status: StatusCode, reply: Reply) -> Response {
    let mut response = (status, reply.body).into_response();
    let ct = if reply.html {
        "text/html;charset=utf-8"
    } else {
        CONTENT_TYPE
    };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    response
}

/// Entry point for `GET|POST /gateway.do`: accounting, faults, then [`process`], finished even
/// if the client hangs up.
pub async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    crate::server::detached(serve(app, req)).await
}

async fn serve(app: Arc<App>, req: Request) -> Response {
    let _in_flight = InFlight::enter(&app);
    let http_method = req.method().clone();
    let query = req.uri().query().unwrap_or("").to_string();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let raw = match to_bytes(req.into_body(), MAX_BODY).await {
        Ok(raw) => raw,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request too large").into_response(),
    };
    let mut params = parse_form(&query);
    let mut content_type_ok = true;
    if !raw.is_empty() {
        if content_type.is_empty() || content_type.starts_with("application/x-www-form-urlencoded")
        {
            params.extend(parse_form(&String::from_utf8_lossy(&raw)));
        } else {
            content_type_ok = false;
        }
    }
    let route = route_name(&params);
    lock(&app.stats).record(&route);
    let fault = lock(&app.faults).take(&route, &format!("{http_method} /gateway.do"));
    match fault {
        Some(FaultKind::Latency(delay)) => tokio::time::sleep(delay).await,
        Some(FaultKind::Status(status)) => {
            tracing::info!(%route, %status, "sandbox fault: error status");
            let err = GwError::unavailable();
            return respond(
                status,
                Reply::json(body(&app.alipay, ERROR_RESPONSE, &err.content(), false)),
            );
        }
        _ => {}
    }
    let reply = process(&app, &params, content_type_ok);
    tracing::debug!(%route, "Alipay sandbox request");
    let mut response = respond(StatusCode::OK, reply);
    match fault {
        Some(FaultKind::Reset) => {
            response.extensions_mut().insert(DropConnection);
        }
        Some(FaultKind::Garbled) => {
            tracing::info!(%route, "sandbox fault: garbled body");
            response = respond(
                StatusCode::OK,
                Reply::json("<html><body>502 Bad Gateway</body></html>\u{0}garbled".into()),
            );
        }
        _ => {}
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        let p = parse_form("a=1+2&b=%E4%B8%AD&&c&d=x%2By");
        assert_eq!(
            p,
            vec![
                ("a".into(), "1 2".into()),
                ("b".into(), "中".into()),
                ("c".into(), "".into()),
                ("d".into(), "x+y".into()),
            ]
        );
    }
}
