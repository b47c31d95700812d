//! User authorisation (alipay.md §6.12–6.13): one-time auth codes issued for fake users by the
//! sandbox endpoint, alipay.system.oauth.token (authorization_code and refresh_token grants,
//! top-level parameters, failures as signed `error_response`) and alipay.user.info.share.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};
use zhifu_signing::alipay::beijing_timestamp;

use super::biz::{GwError, GwResult};
use super::gateway::Ctx;
use super::new_user_id;
use super::trades::sorted;
use crate::store::alnum;

/// Access tokens live 15 days, refresh tokens 30 days (seconds).
pub const EXPIRES_IN: i64 = 1_296_000;
pub const RE_EXPIRES_IN: i64 = 2_592_000;

/// A fake Alipay user who authorised the app.
#[derive(Debug, Clone)]
pub struct User {
    pub user_id: String,
    pub open_id: String,
    pub nick_name: String,
    pub avatar: String,
    pub province: String,
    pub city: String,
    pub gender: &'static str,
}

struct Token {
    user_id: String,
    expires: i64,
}

struct Refresh {
    user_id: String,
    expires: i64,
    used: bool,
}

#[derive(Default)]
pub struct OAuth {
    pub users: HashMap<String, User>,
    /// code → (user_id, used).
    codes: HashMap<String, (String, bool)>,
    tokens: HashMap<String, Token>,
    refreshes: HashMap<String, Refresh>,
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth")
            .field("users", &self.users.len())
            .finish()
    }
}

/// `n` random lowercase hex digits.
fn hex(n: usize) -> String {
    use rand::Rng as _;
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
        .collect()
}

impl OAuth {
    /// A new fake user and a one-time auth code for them: `{"code", "user_id", "open_id"}`.
    pub fn issue_code(&mut self) -> Value {
        let n = self.users.len() + 1;
        let user = User {
            user_id: new_user_id(),
            open_id: format!("074{}", alnum(43)),
            nick_name: format!("沙箱用户{n}"),
            avatar: format!("https://tfs.alipayobjects.com/images/partner/sandbox{n}"),
            province: "浙江省".into(),
            city: "杭州市".into(),
            gender: if n.is_multiple_of(2) { "F" } else { "M" },
        };
        let code = hex(32);
        self.codes
            .insert(code.clone(), (user.user_id.clone(), false));
        let answer = json!({ "code": code, "user_id": user.user_id, "open_id": user.open_id });
        self.users.insert(user.user_id.clone(), user);
        answer
    }

    fn grant(&mut self, user_id: &str, now: i64) -> BTreeMap<&'static str, Value> {
        let access = format!("authusrB{}", hex(32));
        let refresh = format!("authusrB{}", hex(32));
        self.tokens.insert(
            access.clone(),
            Token {
                user_id: user_id.to_string(),
                expires: now + EXPIRES_IN,
            },
        );
        self.refreshes.insert(
            refresh.clone(),
            Refresh {
                user_id: user_id.to_string(),
                expires: now + RE_EXPIRES_IN,
                used: false,
            },
        );
        let open_id = self
            .users
            .get(user_id)
            .map(|u| u.open_id.clone())
            .unwrap_or_default();
        BTreeMap::from([
            ("access_token", access.into()),
            ("refresh_token", refresh.into()),
            ("expires_in", EXPIRES_IN.into()),
            ("re_expires_in", RE_EXPIRES_IN.into()),
            ("user_id", user_id.into()),
            ("alipay_user_id", user_id.into()),
            ("open_id", open_id.into()),
            ("auth_start", beijing_timestamp(now).into()),
        ])
    }
}

fn oauth_error(sub_code: &str, sub_msg: &str) -> GwError {
    GwError::invalid(sub_code, sub_msg).in_error_response()
}

/// `alipay.system.oauth.token`: `grant_type`, `code`, `refresh_token` are top-level parameters.
pub fn token(ctx: &mut Ctx) -> GwResult<Map<String, Value>> {
    let now = ctx.now();
    let grant_type = ctx.param("grant_type");
    let code = ctx.param("code");
    let refresh_token = ctx.param("refresh_token");
    let oauth = &mut ctx.store.alipay.oauth;
    let user_id = match grant_type.as_deref() {
        Some("authorization_code") => {
            let entry = code.and_then(|c| oauth.codes.get_mut(&c));
            match entry {
                Some((user_id, used)) if !*used => {
                    *used = true;
                    user_id.clone()
                }
                _ => return Err(oauth_error("isv.code-invalid", "授权码code无效")),
            }
        }
        Some("refresh_token") => {
            let entry = refresh_token.and_then(|r| oauth.refreshes.get_mut(&r));
            match entry {
                None => {
                    return Err(oauth_error(
                        "isv.refresh-token-invalid",
                        "刷新令牌refresh_token无效",
                    ));
                }
                Some(r) if r.used => {
                    return Err(oauth_error(
                        "isv.refreshed-token-invalid",
                        "刷新令牌refresh_token已被使用过",
                    ));
                }
                Some(r) if r.expires <= now => {
                    return Err(oauth_error(
                        "isv.refresh-token-time-out",
                        "刷新令牌refresh_token过期",
                    ));
                }
                Some(r) => {
                    r.used = true;
                    r.user_id.clone()
                }
            }
        }
        _ => {
            return Err(oauth_error(
                "isv.grant-type-invalid",
                "grant_type 只能是 authorization_code 或 refresh_token",
            ));
        }
    };
    Ok(sorted(oauth.grant(&user_id, now)))
}

/// `alipay.user.info.share`: the user behind the top-level `auth_token`.
pub fn user_info(ctx: &mut Ctx) -> GwResult<Map<String, Value>> {
    let now = ctx.now();
    let auth_token = ctx.param("auth_token");
    let oauth = &ctx.store.alipay.oauth;
    let token = auth_token.and_then(|t| oauth.tokens.get(&t));
    let token = match token {
        None => return Err(GwError::token("aop.invalid-auth-token", "无效的访问令牌")),
        Some(t) if t.expires <= now => {
            return Err(GwError::token("aop.auth-token-time-out", "访问令牌已过期"));
        }
        Some(t) => t,
    };
    let user = oauth
        .users
        .get(&token.user_id)
        .ok_or_else(|| GwError::token("aop.invalid-auth-token", "无效的访问令牌"))?;
    Ok(sorted(BTreeMap::from([
        ("user_id", user.user_id.clone().into()),
        ("open_id", user.open_id.clone().into()),
        ("nick_name", user.nick_name.clone().into()),
        ("avatar", user.avatar.clone().into()),
        ("province", user.province.clone().into()),
        ("city", user.city.clone().into()),
        ("gender", user.gender.into()),
    ])))
}
