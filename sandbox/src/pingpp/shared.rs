//! Checks several resources make the same way: the app a request names (in the path, the body
//! or the query), and a merchant key (`order_no`, `batch_no`) used again — the same parameters
//! answer the earlier object, other parameters are refused naming the key.

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::params::Body;
use crate::store::Store;

fn unknown_app(param: &str, app: &str) -> ApiError {
    ApiError::param(param, format!("未找到 app : {app}。"))
}

/// The app in the path (`/v1/apps/{app}/…`) must be the sandbox's app.
pub fn check_path_app(ctx: &Ctx) -> ApiResult<()> {
    let app = ctx.param(0);
    if app == ctx.store.app_id {
        Ok(())
    } else {
        Err(ApiError::not_found("app", app).with_param("app"))
    }
}

/// `app: {"id": …}` in a body (charges, transfers, red envelopes).
pub fn check_app_object(store: &Store, body: &Body) -> ApiResult<()> {
    let app = body.req_object("app")?;
    app.allow_only(&["id"])?;
    let id = app.req_str("id", 64)?;
    if id == store.app_id {
        Ok(())
    } else {
        Err(unknown_app("app[id]", &id))
    }
}

/// `app` as a plain string in a body (batches, legacy customers).
pub fn check_app_string(store: &Store, body: &Body) -> ApiResult<()> {
    let app = body.req_str("app", 64)?;
    if app == store.app_id {
        Ok(())
    } else {
        Err(unknown_app("app", &app))
    }
}

/// The query's app (`app` or `app[id]`), when `required` or given, must be the sandbox's app.
pub fn check_app_query(ctx: &Ctx, key: &str, required: bool) -> ApiResult<()> {
    match ctx.query.get(key).filter(|a| !a.is_empty()) {
        None if required => Err(ApiError::param(key, format!("缺少必填参数: {key}"))),
        Some(app) if app != ctx.store.app_id => Err(unknown_app(key, app)),
        _ => Ok(()),
    }
}

/// A merchant key used before: `earlier` is the id and fingerprint of the object it made.
/// The same parameters answer that object's id; other parameters are refused naming the key.
pub fn reuse(
    key: (&str, &str),
    earlier: Option<(&str, &str)>,
    fingerprint: &str,
    what: &str,
) -> ApiResult<Option<String>> {
    let Some((id, was)) = earlier else {
        return Ok(None);
    };
    if was == fingerprint {
        return Ok(Some(id.to_string()));
    }
    let (param, value) = key;
    Err(ApiError::param(
        param,
        format!(
            "{param} {value} 已被使用 ({what} {id})，本次请求的参数与之前不一致。重试时请使用完全相同的参数；新的请求请使用新的 {param}。"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_key_answers_the_same_object_or_is_refused_naming_it() {
        assert_eq!(
            reuse(("order_no", "A1"), None, "{}", "transfer").unwrap(),
            None
        );
        let same = reuse(("order_no", "A1"), Some(("tr_1", "{a}")), "{a}", "transfer");
        assert_eq!(same.unwrap().as_deref(), Some("tr_1"));
        let err = reuse(("batch_no", "B1"), Some(("7", "{a}")), "{b}", "batch").unwrap_err();
        assert_eq!(err.param.as_deref(), Some("batch_no"));
        assert!(
            err.message.contains("B1") && err.message.contains('7'),
            "{}",
            err.message
        );
    }
}
