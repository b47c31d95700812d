//! Configuration: environment variables, an optional TOML file and command-line overrides.
//!
//! Precedence: built-in defaults < TOML file (`--config`, `ZHIFU_CONFIG`) < environment < flags.
//! Every value remembers where it came from so errors can name the setting without echoing it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use rsa::{PrivateKey, PublicKey};

use crate::keys::{self, KeyError};
use crate::policy::{ConfirmMode, Limits, PolicyConfig};
use crate::tool::{ConfigKey, Provider};

/// A string that never prints: API keys and the like.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The raw value, for the one place that sends it upstream.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// One raw setting and the place it came from (`PINGPP_API_KEY`, `config file [pingpp] api_key`, `--read-only`).
#[derive(Clone, Debug)]
struct Raw {
    value: String,
    source: String,
}

/// One setting: its TOML key (`section.name`, empty for environment-only settings), the environment
/// variables it is read from (canonical name first, then aliases; first match wins) and a line for
/// `--help`.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub key: &'static str,
    pub env: &'static [&'static str],
    pub help: &'static str,
}

const fn s(key: &'static str, env: &'static [&'static str], help: &'static str) -> Setting {
    Setting { key, env, help }
}

/// Every setting the server reads. The loader reads only these, the unknown-name warnings and
/// `--help` are made from them: a new setting is one line here (plus the code that uses its value).
#[rustfmt::skip]
pub const SETTINGS: &[Setting] = &[
    s("", &["ZHIFU_CONFIG"], "TOML configuration file (same as --config)"),
    s("pingpp.api_key", &["PINGPP_API_KEY"], "Ping++ secret key, sk_test_… or sk_live_…"),
    s("pingpp.app_id", &["PINGPP_APP_ID"], "default Ping++ app id (app_…)"),
    s("pingpp.private_key", &["PINGPP_PRIVATE_KEY"], "merchant RSA key that signs requests (PEM or base64)"),
    s("pingpp.private_key_path", &["PINGPP_PRIVATE_KEY_PATH"], "… or the file holding it"),
    s("pingpp.public_key", &["PINGPP_PUBLIC_KEY"], "Ping++ public key that verifies webhooks"),
    s("pingpp.public_key_path", &["PINGPP_PUBLIC_KEY_PATH"], "… or the file holding it"),
    s("pingpp.api_base", &["PINGPP_API_BASE"], "API base URL (default https://api.pingxx.com)"),
    s("alipay.app_id", &["ALIPAY_APP_ID", "AP_APP_ID"], "Alipay Open Platform app id"),
    s("alipay.private_key", &["ALIPAY_PRIVATE_KEY", "AP_APP_KEY"], "app private key (RSA2)"),
    s("alipay.private_key_path", &["ALIPAY_PRIVATE_KEY_PATH"], "… or the file holding it"),
    s("alipay.public_key", &["ALIPAY_PUBLIC_KEY", "AP_PUB_KEY"], "key mode: Alipay public key"),
    s("alipay.public_key_path", &["ALIPAY_PUBLIC_KEY_PATH"], "… or the file holding it"),
    s("alipay.gateway", &["ALIPAY_GATEWAY"], "full gateway.do URL (overrides ALIPAY_ENV)"),
    s("alipay.env", &["ALIPAY_ENV", "AP_CURRENT_ENV"], "prod (default) or sandbox"),
    s("alipay.app_cert_path", &["ALIPAY_APP_CERT_PATH"], "certificate mode: app certificate"),
    s("alipay.cert_path", &["ALIPAY_CERT_PATH"], "certificate mode: Alipay certificate"),
    s("alipay.root_cert_path", &["ALIPAY_ROOT_CERT_PATH"], "certificate mode: Alipay root certificate"),
    s("alipay.notify_url", &["ALIPAY_NOTIFY_URL", "AP_NOTIFY_URL"], "default notify_url"),
    s("alipay.return_url", &["ALIPAY_RETURN_URL", "AP_RETURN_URL"], "default return_url"),
    s("alipay.app_auth_token", &["ALIPAY_APP_AUTH_TOKEN"], "ISV mode: the merchant's app_auth_token"),
    s("alipay.sign_type", &["ALIPAY_SIGN_TYPE", "AP_ENCRYPTION_ALGO"], "only RSA2"),
    s("server.tools", &["ZHIFU_TOOLS", "AP_SELECT_TOOLS"], "allowlist of tool names, comma-separated"),
    s("server.read_only", &["ZHIFU_READ_ONLY"], "1: only read tools (same as --read-only)"),
    s("server.state_dir", &["ZHIFU_STATE_DIR"], "folder for the state database and audit log"),
    s("server.state_db", &["ZHIFU_STATE_DB"], "state store: SQLite file or postgres:// URL"),
    s("server.state_db_pool", &["ZHIFU_STATE_DB_POOL"], "PostgreSQL connections per instance"),
    s("server.audit_log", &["ZHIFU_AUDIT_LOG"], "JSON Lines audit log file, or off"),
    s("server.audit_max_bytes", &["ZHIFU_AUDIT_MAX_BYTES"], "rotate the audit log at this size"),
    s("server.http_timeout_ms", &["ZHIFU_HTTP_TIMEOUT_MS"], "gateway request timeout (default 30000)"),
    s("", &["ZHIFU_HTTP_TOKEN"], "serve --http: bearer token (required off loopback)"),
    s("", &["ZHIFU_HTTP_ALLOWED_HOSTS"], "serve --http: extra accepted Host values"),
    s("", &["ZHIFU_HTTP_ALLOWED_ORIGINS"], "serve --http: extra accepted Origins"),
    s("policy.deny_tools", &["ZHIFU_DENY_TOOLS"], "tools never listed or callable"),
    s("policy.allow_live_writes", &["ZHIFU_ALLOW_LIVE_WRITES"], "1: allow state changes with live keys"),
    s("policy.confirm", &["ZHIFU_CONFIRM"], "ask the user to confirm: auto, always or never"),
    s("policy.transfer_payees", &["ZHIFU_TRANSFER_PAYEES"], "allowlist of transfer payees"),
    s("policy.pingpp.max_per_call_yuan", &["ZHIFU_PINGPP_MAX_PER_CALL_YUAN"], "Ping++ limit per call"),
    s("policy.pingpp.max_daily_yuan", &["ZHIFU_PINGPP_MAX_DAILY_YUAN"], "Ping++ limit per 24 h"),
    s("policy.alipay.max_per_call_yuan", &["ZHIFU_ALIPAY_MAX_PER_CALL_YUAN"], "Alipay limit per call"),
    s("policy.alipay.max_daily_yuan", &["ZHIFU_ALIPAY_MAX_DAILY_YUAN"], "Alipay limit per 24 h"),
];

/// The prefixes whose unknown variables are warned about.
pub const ENV_PREFIXES: &[&str] = &["ZHIFU_", "PINGPP_", "ALIPAY_", "AP_"];

/// Variables with those prefixes that are not settings: the project's own test and bench tooling
/// passes them through the environment to the processes it starts.
const TOOLING_ENV: &[&str] = &[
    "ZHIFU_MCP_BIN",
    "ZHIFU_BENCH_BIN",
    "ZHIFU_FUZZ_",
    "ZHIFU_TEST_",
];

/// The closest of `candidates` to a misspelt `name`, if one is close: equal ignoring case and
/// `_`/`-`, or within a small edit distance.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let wanted = squash(name);
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(&wanted, &squash(c)), c))
        .filter(|(d, _)| *d <= (wanted.len() / 4).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// A warning for every variable named like a setting (see [`ENV_PREFIXES`]) that is none:
/// `ZHIFU_READONLY=1` would otherwise be ignored without a word.
pub fn unknown_env_warnings(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let known = || SETTINGS.iter().flat_map(|s| s.env.iter().copied());
    let mut warnings: Vec<String> = names
        .into_iter()
        .filter(|n| ENV_PREFIXES.iter().any(|p| n.starts_with(p)))
        .filter(|n| !known().any(|k| k == n))
        .filter(|n| !TOOLING_ENV.iter().any(|t| n.starts_with(t)))
        .map(|n| match did_you_mean(&n, known()) {
            Some(k) => format!("unknown environment variable {n} is ignored; did you mean {k}?"),
            None => format!(
                "unknown environment variable {n} is ignored (zhifu-mcp --help lists the settings)"
            ),
        })
        .collect();
    warnings.sort();
    warnings
}

/// The settings as `--help` lists them: variable, aliases, TOML key, meaning.
pub fn settings_help() -> String {
    let mut out =
        String::from("Environment variables (and their key in the --config TOML file):\n");
    for setting in SETTINGS {
        let (section, name) = setting.key.rsplit_once('.').unwrap_or(("", ""));
        let toml = if setting.key.is_empty() {
            String::new()
        } else {
            format!("; TOML [{section}] {name}")
        };
        let mut names = setting.env[0].to_string();
        if setting.env.len() > 1 {
            names.push_str(&format!(" ({})", setting.env[1..].join(", ")));
        }
        out.push_str(&format!("  {names:<44}{}{toml}\n", setting.help));
    }
    out
}

/// The official Alipay MCP server's `AP_SELECT_TOOLS` names, mapped to ours.
const AP_TOOL_ALIASES: &[(&str, &str)] = &[
    ("mobilePay", "create_wap_payment_url"),
    ("webPagePay", "create_page_payment_url"),
    ("queryPay", "query_trade"),
    ("refundPay", "refund_trade"),
    ("refundQuery", "query_refund"),
];

/// Default Ping++ API base URL.
pub const PINGPP_DEFAULT_BASE: &str = "https://api.pingxx.com";

/// A configuration problem, naming the setting (never its value).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("cannot read config file {path}: {err}")]
    FileRead { path: String, err: std::io::Error },
    #[error("config file {path}: {message}")]
    FileParse { path: String, message: String },
    #[error("{setting}: {message}")]
    Invalid { setting: String, message: String },
}

/// Ping++ credentials and endpoint.
#[derive(Debug, Clone)]
pub struct PingppConfig {
    pub api_key: Secret,
    pub app_id: Option<String>,
    /// Merchant key that signs requests (`Pingplusplus-Signature`); optional unless the account enforces signing.
    pub private_key: Option<PrivateKey>,
    /// Ping++ public key that verifies webhooks.
    pub public_key: Option<PublicKey>,
    pub api_base: String,
}

impl PingppConfig {
    /// Test keys never move money; live keys do.
    pub fn is_live(&self) -> bool {
        self.api_key.expose().starts_with("sk_live_")
    }
}

/// Alipay's production gateway.
pub const ALIPAY_PRODUCTION_GATEWAY: &str = "https://openapi.alipay.com/gateway.do";
/// Alipay's sandbox gateway (`ALIPAY_ENV=sandbox`).
pub const ALIPAY_SANDBOX_GATEWAY: &str = "https://openapi-sandbox.dl.alipaydev.com/gateway.do";

/// Which Alipay environment the gateway belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlipayEnv {
    /// The production gateway: real money.
    Production,
    /// Alipay's own sandbox, or the embedded sandbox gateway.
    Sandbox,
}

/// Public-key certificate mode (公钥证书模式): serial numbers sent with every request and the key
/// taken from Alipay's certificate.
#[derive(Debug, Clone)]
pub struct AlipayCertMode {
    pub app_cert_sn: String,
    pub root_cert_sn: String,
    /// Responses must carry this `alipay_cert_sn`.
    pub alipay_cert_sn: String,
}

/// Alipay Open Platform credentials and endpoint.
#[derive(Debug, Clone)]
pub struct AlipayConfig {
    pub app_id: String,
    /// App private key that signs requests (RSA2).
    pub private_key: PrivateKey,
    /// Alipay public key that verifies responses and notifications (from `ALIPAY_PUBLIC_KEY` in key
    /// mode, from the Alipay certificate in certificate mode).
    pub alipay_public_key: PublicKey,
    pub cert: Option<AlipayCertMode>,
    /// Full `gateway.do` URL.
    pub gateway: String,
    pub env: AlipayEnv,
    pub notify_url: Option<String>,
    pub return_url: Option<String>,
    /// ISV mode: the merchant's `app_auth_token`, sent with every request (`ALIPAY_APP_AUTH_TOKEN`).
    pub app_auth_token: Option<Secret>,
}

/// Server-wide switches.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// Only these tools are listed and callable (`ZHIFU_TOOLS`); `None` means all.
    pub tools: Option<Vec<String>>,
    /// Only tools whose effect is `read` are listed and callable (`ZHIFU_READ_ONLY=1`).
    pub read_only: bool,
    pub policy: PolicyConfig,
    pub state: StateConfig,
}

/// Where durable state lives and how long HTTP calls may take.
#[derive(Debug, Clone, Default)]
pub struct StateConfig {
    /// Folder for the state database and the audit log (`ZHIFU_STATE_DIR`).
    pub dir: Option<PathBuf>,
    /// The state store (`ZHIFU_STATE_DB`): a SQLite file, or a PostgreSQL URL.
    pub db: Option<StateDb>,
    /// PostgreSQL connections per instance (`ZHIFU_STATE_DB_POOL`).
    pub db_pool: Option<u64>,
    /// Append-only JSON Lines audit log (`ZHIFU_AUDIT_LOG`; `off` disables it).
    pub audit_log: Option<PathBuf>,
    pub audit_disabled: bool,
    /// Rotate the audit log at this size (`ZHIFU_AUDIT_MAX_BYTES`, default 10 MiB).
    pub audit_max_bytes: u64,
    /// Whole-request timeout for gateway calls (`ZHIFU_HTTP_TIMEOUT_MS`, default 30 s).
    pub http_timeout_ms: Option<u64>,
}

/// Where the state store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateDb {
    /// A SQLite file (one host).
    Sqlite(PathBuf),
    /// `postgres://…` / `postgresql://…`, shared by several instances (a secret: it may hold a
    /// password).
    Postgres(Secret),
}

/// Everything the runtime needs.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub pingpp: Option<PingppConfig>,
    pub alipay: Option<AlipayConfig>,
    pub server: ServerConfig,
    /// Set when the embedded sandbox supplied the credentials.
    pub sandbox: bool,
}

impl Config {
    /// True when no provider credentials were given: the embedded sandbox should start.
    pub fn has_no_provider(&self) -> bool {
        self.pingpp.is_none() && self.alipay.is_none()
    }

    /// The value of a configuration key that a spec names in `default_from` (e.g. `pingpp.app_id`).
    pub fn lookup(&self, key: ConfigKey) -> Option<&str> {
        match key {
            ConfigKey::PingppAppId => self.pingpp.as_ref()?.app_id.as_deref(),
            ConfigKey::AlipayAppId => Some(self.alipay.as_ref()?.app_id.as_str()),
            ConfigKey::AlipayNotifyUrl => self.alipay.as_ref()?.notify_url.as_deref(),
            ConfigKey::AlipayReturnUrl => self.alipay.as_ref()?.return_url.as_deref(),
        }
    }

    /// The protocol of a configured provider; `None` when the provider is not configured.
    /// Adding a provider adds its configuration section here.
    pub fn protocol(&self, provider: Provider) -> Option<&dyn crate::providers::Protocol> {
        match provider {
            Provider::Pingpp => self
                .pingpp
                .as_ref()
                .map(|c| c as &dyn crate::providers::Protocol),
            Provider::Alipay => self
                .alipay
                .as_ref()
                .map(|c| c as &dyn crate::providers::Protocol),
        }
    }

    /// How to configure a provider, for "not configured" messages.
    pub fn required_setting(&self, provider: Provider) -> &'static str {
        match provider {
            Provider::Pingpp => {
                "set PINGPP_API_KEY (and PINGPP_APP_ID, PINGPP_PRIVATE_KEY_PATH), or [pingpp] api_key in the --config file"
            }
            Provider::Alipay => {
                "set ALIPAY_APP_ID, ALIPAY_PRIVATE_KEY_PATH and ALIPAY_PUBLIC_KEY_PATH (or the three ALIPAY_*CERT_PATH), or the [alipay] section of the --config file"
            }
        }
    }

    /// The providers whose tools are offered: the configured ones (the embedded sandbox, which
    /// starts when none is, configures them all).
    pub fn offered(&self, provider: Provider) -> bool {
        self.has_no_provider() || self.protocol(provider).is_some()
    }

    /// Where a provider's calls go: the embedded sandbox overrides what the protocol says.
    pub fn environment(
        &self,
        _provider: Provider,
        protocol: &dyn crate::providers::Protocol,
    ) -> crate::providers::Environment {
        if self.sandbox {
            crate::providers::Environment {
                name: "sandbox",
                live: false,
            }
        } else {
            protocol.environment()
        }
    }

    /// The setting that supplies `key`, for messages ("set PINGPP_APP_ID").
    pub fn env_name(key: &str) -> &'static str {
        SETTINGS
            .iter()
            .find(|s| s.key == key)
            .map(|s| s.env[0])
            .unwrap_or("the configuration")
    }
}

/// Collects raw settings from their sources, then builds a [`Config`].
#[derive(Default)]
pub struct Loader {
    raw: BTreeMap<&'static str, Raw>,
}

impl Loader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a TOML file: `[pingpp] api_key = "…"`, `[server] tools = ["…"]`. Every problem in
    /// it is reported at once, with its line and column; an unknown key with a did-you-mean.
    pub fn file(mut self, path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|err| ConfigError::FileRead {
            path: shown.clone(),
            err,
        })?;
        let at =
            |span: Option<std::ops::Range<usize>>| line_column(&text, span.map_or(0, |r| r.start));
        let table = toml::de::DeTable::parse(&text).map_err(|e| ConfigError::FileParse {
            path: shown.clone(),
            message: format!("{}: {}", at(e.span()), e.message().trim()),
        })?;
        let mut flat = Vec::new();
        flatten(table.get_ref(), "", &mut flat);
        let mut problems = Vec::new();
        for (dotted, span, value) in flat {
            let (section, name) = dotted.rsplit_once('.').unwrap_or(("", dotted.as_str()));
            let Some(setting) = SETTINGS
                .iter()
                .find(|s| !s.key.is_empty() && s.key == dotted)
            else {
                let keys = SETTINGS.iter().map(|s| s.key).filter(|k| !k.is_empty());
                let hint = match did_you_mean(&dotted, keys) {
                    Some(k) => {
                        let (sec, key) = k.rsplit_once('.').unwrap_or(("", k));
                        format!("; did you mean [{sec}] {key}?")
                    }
                    None => String::new(),
                };
                let what = if section.is_empty() {
                    format!("`{name}` outside a [section]")
                } else {
                    format!("unknown setting [{section}] {name}")
                };
                problems.push((span.start, format!("{}: {what}{hint}", at(Some(span)))));
                continue;
            };
            match value {
                Ok(text) => {
                    self.raw.insert(
                        setting.key,
                        Raw {
                            value: text,
                            source: format!("config file {shown} [{section}] {name}"),
                        },
                    );
                }
                Err(why) => problems.push((
                    span.start,
                    format!("{}: [{section}] {name} {why}", at(Some(span))),
                )),
            }
        }
        problems.sort();
        match problems.as_slice() {
            [] => Ok(self),
            [(_, one)] => Err(ConfigError::FileParse {
                path: shown,
                message: one.clone(),
            }),
            many => Err(ConfigError::FileParse {
                path: shown,
                message: format!(
                    "{} problems:{}",
                    many.len(),
                    many.iter()
                        .map(|(_, p)| format!("\n  {p}"))
                        .collect::<String>()
                ),
            }),
        }
    }

    /// Reads the environment through `get` (a function so tests need not touch the process env).
    pub fn env(mut self, get: impl Fn(&str) -> Option<String>) -> Self {
        for Setting { key, env, .. } in SETTINGS.iter().filter(|s| !s.key.is_empty()) {
            for name in *env {
                if let Some(value) = get(name).filter(|v| !v.trim().is_empty()) {
                    self.raw.insert(
                        key,
                        Raw {
                            value,
                            source: (*name).to_string(),
                        },
                    );
                    break;
                }
            }
        }
        self
    }

    /// A command-line override, e.g. `("server.read_only", "true", "--read-only")`.
    pub fn flag(mut self, key: &'static str, value: impl Into<String>, source: &str) -> Self {
        self.raw.insert(
            key,
            Raw {
                value: value.into(),
                source: source.to_string(),
            },
        );
        self
    }

    fn get(&self, key: &str) -> Option<&Raw> {
        self.raw.get(key)
    }

    /// Builds the typed configuration, parsing keys once.
    pub fn build(self) -> Result<Config, ConfigError> {
        let server = ServerConfig {
            tools: self
                .get("server.tools")
                .map(|r| {
                    r.value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty() && *s != "all")
                        .map(|s| {
                            AP_TOOL_ALIASES
                                .iter()
                                .find(|(a, _)| *a == s)
                                .map_or(s, |(_, ours)| ours)
                        })
                        .map(String::from)
                        .collect()
                })
                .filter(|v: &Vec<String>| !v.is_empty()),
            read_only: match self.get("server.read_only") {
                None => false,
                Some(r) => parse_bool(r)?,
            },
            policy: self.policy()?,
            state: self.state()?,
        };
        let pingpp = match self.get("pingpp.api_key") {
            None => {
                if let Some(r) = [
                    "pingpp.app_id",
                    "pingpp.private_key",
                    "pingpp.private_key_path",
                ]
                .iter()
                .find_map(|k| self.get(k))
                {
                    return Err(ConfigError::Invalid {
                        setting: r.source.clone(),
                        message: "is set but PINGPP_API_KEY is not; set the secret key (sk_test_… or sk_live_…)".into(),
                    });
                }
                None
            }
            Some(key) => {
                let api_key = key.value.trim().to_string();
                if !(api_key.starts_with("sk_test_") || api_key.starts_with("sk_live_")) {
                    return Err(ConfigError::Invalid {
                        setting: key.source.clone(),
                        message: "must be a Ping++ secret key starting with sk_test_ or sk_live_"
                            .into(),
                    });
                }
                Some(PingppConfig {
                    api_key: Secret::new(api_key),
                    app_id: self
                        .get("pingpp.app_id")
                        .map(|r| r.value.trim().to_string()),
                    private_key: self.key_pair(
                        "pingpp.private_key",
                        "pingpp.private_key_path",
                        keys::private_key_from_text,
                    )?,
                    public_key: self.key_pair(
                        "pingpp.public_key",
                        "pingpp.public_key_path",
                        keys::public_key_from_text,
                    )?,
                    api_base: self
                        .get("pingpp.api_base")
                        .map(|r| r.value.trim().trim_end_matches('/').to_string())
                        .unwrap_or_else(|| PINGPP_DEFAULT_BASE.to_string()),
                })
            }
        };
        let alipay = self.alipay()?;
        Ok(Config {
            pingpp,
            alipay,
            server,
            sandbox: false,
        })
    }

    fn policy(&self) -> Result<PolicyConfig, ConfigError> {
        let list = |k: &str| -> Option<Vec<String>> {
            self.get(k).map(|r| {
                r.value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
        };
        let yuan = |k: &str| -> Result<Option<i64>, ConfigError> {
            match self.get(k) {
                None => Ok(None),
                Some(r) => crate::money::fen_from_yuan(r.value.trim())
                    .map(Some)
                    .ok_or_else(|| ConfigError::Invalid {
                        setting: r.source.clone(),
                        message: "must be an amount in yuan like 500 or 99.50".into(),
                    }),
            }
        };
        let mut limits = std::collections::BTreeMap::new();
        for (provider, name) in [(Provider::Pingpp, "pingpp"), (Provider::Alipay, "alipay")] {
            let l = Limits {
                per_call_fen: yuan(&format!("policy.{name}.max_per_call_yuan"))?,
                daily_fen: yuan(&format!("policy.{name}.max_daily_yuan"))?,
            };
            if l != Limits::default() {
                limits.insert(provider, l);
            }
        }
        let confirm = match self.get("policy.confirm") {
            None => ConfirmMode::Auto,
            Some(r) => match r.value.trim().to_ascii_lowercase().as_str() {
                "auto" | "" => ConfirmMode::Auto,
                "always" => ConfirmMode::Always,
                "never" => ConfirmMode::Never,
                _ => {
                    return Err(ConfigError::Invalid {
                        setting: r.source.clone(),
                        message: "must be auto, always or never".into(),
                    });
                }
            },
        };
        Ok(PolicyConfig {
            deny_tools: list("policy.deny_tools").unwrap_or_default(),
            allow_live_writes: match self.get("policy.allow_live_writes") {
                None => false,
                Some(r) => parse_bool(r)?,
            },
            confirm,
            transfer_payees: list("policy.transfer_payees"),
            limits,
        })
    }

    fn state(&self) -> Result<StateConfig, ConfigError> {
        let path = |k: &str| self.get(k).map(|r| PathBuf::from(r.value.trim()));
        let number = |k: &str| -> Result<Option<u64>, ConfigError> {
            self.get(k)
                .map(|r| {
                    r.value
                        .trim()
                        .parse::<u64>()
                        .map_err(|_| ConfigError::Invalid {
                            setting: r.source.clone(),
                            message: "must be a whole number".into(),
                        })
                })
                .transpose()
        };
        let audit_disabled = self
            .get("server.audit_log")
            .is_some_and(|r| r.value.trim().eq_ignore_ascii_case("off"));
        Ok(StateConfig {
            dir: path("server.state_dir"),
            db: self.get("server.state_db").map(|r| {
                let value = r.value.trim();
                if crate::store::is_postgres_url(value) {
                    StateDb::Postgres(Secret::new(value))
                } else {
                    StateDb::Sqlite(PathBuf::from(value))
                }
            }),
            db_pool: match number("server.state_db_pool")? {
                Some(0) => {
                    return Err(ConfigError::Invalid {
                        setting: self.get("server.state_db_pool").unwrap().source.clone(),
                        message: "must be at least 1".into(),
                    });
                }
                n => n,
            },
            audit_log: if audit_disabled {
                None
            } else {
                path("server.audit_log")
            },
            audit_disabled,
            audit_max_bytes: number("server.audit_max_bytes")?.unwrap_or(10 * 1024 * 1024),
            http_timeout_ms: number("server.http_timeout_ms")?,
        })
    }

    fn alipay(&self) -> Result<Option<AlipayConfig>, ConfigError> {
        let Some(app_id) = self.get("alipay.app_id") else {
            if let Some(r) = [
                "alipay.private_key",
                "alipay.private_key_path",
                "alipay.public_key",
                "alipay.app_cert_path",
            ]
            .iter()
            .find_map(|k| self.get(k))
            {
                return Err(ConfigError::Invalid {
                    setting: r.source.clone(),
                    message: "is set but ALIPAY_APP_ID is not; set the app id too".into(),
                });
            }
            return Ok(None);
        };
        if let Some(r) = self.get("alipay.sign_type")
            && !r.value.trim().eq_ignore_ascii_case("RSA2")
        {
            return Err(ConfigError::Invalid {
                setting: r.source.clone(),
                message:
                    "only RSA2 (SHA256withRSA) is supported; the legacy RSA (SHA1) signature is not"
                        .into(),
            });
        }
        let private_key = self
            .key_pair("alipay.private_key", "alipay.private_key_path", keys::private_key_from_text)?
            .ok_or_else(|| ConfigError::Invalid {
                setting: app_id.source.clone(),
                message: "is set but no app private key is: set ALIPAY_PRIVATE_KEY or ALIPAY_PRIVATE_KEY_PATH".into(),
            })?;
        let env_raw = self.get("alipay.env");
        let env = match env_raw.map(|r| r.value.trim().to_ascii_lowercase()) {
            None => AlipayEnv::Production,
            Some(v) if v == "sandbox" || v == "dev" => AlipayEnv::Sandbox,
            Some(v) if v == "prod" || v == "production" => AlipayEnv::Production,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    setting: env_raw.map(|r| r.source.clone()).unwrap_or_default(),
                    message: "must be `prod` or `sandbox`".into(),
                });
            }
        };
        let gateway = match self.get("alipay.gateway") {
            Some(r) => r.value.trim().to_string(),
            None if env == AlipayEnv::Sandbox => ALIPAY_SANDBOX_GATEWAY.to_string(),
            None => ALIPAY_PRODUCTION_GATEWAY.to_string(),
        };
        let cert_paths = [
            "alipay.app_cert_path",
            "alipay.cert_path",
            "alipay.root_cert_path",
        ]
        .map(|k| self.get(k));
        let (cert, alipay_public_key) = match cert_paths {
            [None, None, None] => {
                let key = self
                    .key_pair("alipay.public_key", "alipay.public_key_path", keys::public_key_from_text)?
                    .ok_or_else(|| ConfigError::Invalid {
                        setting: app_id.source.clone(),
                        message: "is set but no Alipay public key is: set ALIPAY_PUBLIC_KEY(_PATH) (key mode) or the three ALIPAY_*CERT_PATH settings (certificate mode); responses cannot be trusted without it".into(),
                    })?;
                (None, key)
            }
            [Some(app), Some(alipay), Some(root)] => {
                let read = |r: &Raw| {
                    std::fs::read(r.value.trim()).map_err(|err| ConfigError::FileRead {
                        path: format!("{} ({})", r.value.trim(), r.source),
                        err,
                    })
                };
                let cert_err = |e: crate::cert::CertError| ConfigError::Invalid {
                    setting: "certificate mode".into(),
                    message: e.to_string(),
                };
                let app_pem = read(app)?;
                let alipay_pem = read(alipay)?;
                let root_pem = read(root)?;
                let mode = AlipayCertMode {
                    app_cert_sn: crate::cert::cert_sn(&app_pem, &app.source).map_err(cert_err)?,
                    root_cert_sn: crate::cert::root_cert_sn(
                        &String::from_utf8_lossy(&root_pem),
                        &root.source,
                    )
                    .map_err(cert_err)?,
                    alipay_cert_sn: crate::cert::cert_sn(&alipay_pem, &alipay.source)
                        .map_err(cert_err)?,
                };
                let key =
                    crate::cert::cert_public_key(&alipay_pem, &alipay.source).map_err(cert_err)?;
                (Some(mode), key)
            }
            partial => {
                let given: Vec<&str> = partial
                    .iter()
                    .flatten()
                    .map(|r| r.source.as_str())
                    .collect();
                return Err(ConfigError::Invalid {
                    setting: given.join(", "),
                    message: "certificate mode needs all three of ALIPAY_APP_CERT_PATH, ALIPAY_CERT_PATH and ALIPAY_ROOT_CERT_PATH".into(),
                });
            }
        };
        let text = |k: &str| {
            self.get(k)
                .map(|r| r.value.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        Ok(Some(AlipayConfig {
            app_id: app_id.value.trim().to_string(),
            private_key,
            alipay_public_key,
            cert,
            gateway,
            env,
            notify_url: text("alipay.notify_url"),
            return_url: text("alipay.return_url"),
            app_auth_token: text("alipay.app_auth_token").map(Secret::new),
        }))
    }

    /// Loads a key given inline (`inline_key`) or by path (`path_key`); inline wins.
    fn key_pair<K>(
        &self,
        inline_key: &str,
        path_key: &str,
        parse: fn(&str, &str) -> Result<K, KeyError>,
    ) -> Result<Option<K>, ConfigError> {
        if let Some(r) = self.get(inline_key) {
            return Ok(Some(parse(&r.value, &r.source)?));
        }
        if let Some(r) = self.get(path_key) {
            let text = keys::read_key_file(&PathBuf::from(r.value.trim()), &r.source)?;
            return Ok(Some(parse(&text, &r.source)?));
        }
        Ok(None)
    }
}

/// Flattens nested TOML tables into dotted keys with the span of the key; strings, booleans,
/// integers and lists of strings become text (lists comma-separated), anything else an error.
fn flatten(
    table: &toml::de::DeTable<'_>,
    prefix: &str,
    out: &mut Vec<(String, std::ops::Range<usize>, Result<String, &'static str>)>,
) {
    use toml::de::DeValue;
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.get_ref().to_string()
        } else {
            format!("{prefix}.{}", name.get_ref())
        };
        let text = match value.get_ref() {
            DeValue::Table(inner) => {
                flatten(inner, &key, out);
                continue;
            }
            DeValue::String(s) => Ok(s.to_string()),
            DeValue::Boolean(b) => Ok(b.to_string()),
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .map(|n| n.to_string())
                .map_err(|_| "is too large"),
            DeValue::Array(items) if items.iter().all(|v| v.get_ref().is_str()) => Ok(items
                .iter()
                .filter_map(|v| v.get_ref().as_str())
                .collect::<Vec<_>>()
                .join(",")),
            _ => Err("must be a string, boolean, integer or list of strings"),
        };
        out.push((key, name.span(), text));
    }
}

/// `line L, column C` (both from 1) of a byte offset in `text`.
fn line_column(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}")
}

fn parse_bool(raw: &Raw) -> Result<bool, ConfigError> {
    match raw.value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(ConfigError::Invalid {
            setting: raw.source.clone(),
            message: "must be 1/0 or true/false".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn no_credentials_means_sandbox() {
        let cfg = Loader::new().env(env_of(&[])).build().unwrap();
        assert!(cfg.has_no_provider());
    }

    #[test]
    fn env_and_flags_layer() {
        let cfg = Loader::new()
            .env(env_of(&[
                ("PINGPP_API_KEY", "sk_test_abc"),
                ("PINGPP_APP_ID", "app_x"),
                ("ZHIFU_READ_ONLY", "0"),
            ]))
            .flag("server.read_only", "1", "--read-only")
            .build()
            .unwrap();
        let p = cfg.pingpp.unwrap();
        assert_eq!(p.api_key.expose(), "sk_test_abc");
        assert_eq!(p.api_base, PINGPP_DEFAULT_BASE);
        assert!(!p.is_live());
        assert!(cfg.server.read_only);
    }

    #[test]
    fn bad_key_names_the_setting_not_the_value() {
        let err = Loader::new()
            .env(env_of(&[("PINGPP_API_KEY", "pk_test_SECRETVALUE")]))
            .build()
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("PINGPP_API_KEY"), "{text}");
        assert!(!text.contains("SECRETVALUE"), "{text}");
        let err = Loader::new()
            .env(env_of(&[
                ("PINGPP_API_KEY", "sk_test_a"),
                (
                    "PINGPP_PRIVATE_KEY",
                    "-----BEGIN PRIVATE KEY-----SECRETx-----END PRIVATE KEY-----",
                ),
            ]))
            .build()
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("PINGPP_PRIVATE_KEY"), "{text}");
        assert!(!text.contains("SECRETx"), "{text}");
    }

    #[test]
    fn toml_file_is_read_and_env_wins() {
        let dir = std::env::temp_dir().join(format!("zhifu-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(&path, "[pingpp]\napi_key = \"sk_test_file\"\napp_id = \"app_file\"\n[server]\ntools = [\"list_charges\", \"retrieve_charge\"]\n").unwrap();
        let cfg = Loader::new()
            .file(&path)
            .unwrap()
            .env(env_of(&[("PINGPP_APP_ID", "app_env")]))
            .build()
            .unwrap();
        let p = cfg.pingpp.unwrap();
        assert_eq!(p.api_key.expose(), "sk_test_file");
        assert_eq!(p.app_id.as_deref(), Some("app_env"));
        assert_eq!(
            cfg.server.tools.unwrap(),
            vec!["list_charges", "retrieve_charge"]
        );
        std::fs::write(&path, "[pingpp]\napi_kee = \"x\"\n").unwrap();
        let err = Loader::new().file(&path).err().unwrap().to_string();
        assert!(err.contains("unknown setting [pingpp] api_kee"), "{err}");
    }

    #[test]
    fn the_settings_table_is_consistent() {
        let mut names: Vec<&str> = SETTINGS
            .iter()
            .flat_map(|s| s.env.iter().copied())
            .collect();
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count, "a variable names two settings");
        for s in SETTINGS {
            let prefixed = |e: &&str| ENV_PREFIXES.iter().any(|p| e.starts_with(p));
            assert!(s.env.iter().all(prefixed), "{:?}", s.env);
            assert!(
                s.key.is_empty() || s.key.split('.').count() >= 2,
                "{}",
                s.key
            );
        }
        let help = settings_help();
        assert!(names.iter().all(|n| help.contains(n)), "{help}");
        // The HTTP transport reads its own variables: they must be in the table too.
        let asked = std::sync::Mutex::new(Vec::new());
        crate::http_transport::HttpOptions::from_env(|n| {
            asked.lock().unwrap().push(n.to_string());
            None
        });
        for n in asked.into_inner().unwrap() {
            assert!(
                names.contains(&n.as_str()),
                "{n} is read but not in SETTINGS"
            );
        }
    }

    #[test]
    fn misspelt_variables_are_warned_about_with_a_suggestion() {
        let names = [
            "ZHIFU_READONLY",
            "PINGPP_APIKEY",
            "PINGPP_API_KEY",
            "AP_SELECT_TOOL",
            "ZHIFU_MCP_BIN",
            "PATH",
            "ALIPAY_FOO_BAR_BAZ",
        ];
        let warnings = unknown_env_warnings(names.map(String::from));
        assert_eq!(warnings.len(), 4, "{warnings:?}");
        let all = warnings.join("\n");
        for (wrong, right) in [
            ("ZHIFU_READONLY", "ZHIFU_READ_ONLY"),
            ("PINGPP_APIKEY", "PINGPP_API_KEY"),
            ("AP_SELECT_TOOL", "AP_SELECT_TOOLS"),
        ] {
            assert!(
                all.contains(&format!("{wrong} is ignored; did you mean {right}?")),
                "{all}"
            );
        }
        assert!(
            all.contains("ALIPAY_FOO_BAR_BAZ is ignored (zhifu-mcp --help"),
            "{all}"
        );
        assert_eq!(
            did_you_mean("create_chage", ["create_charge", "list_charges"]),
            Some("create_charge")
        );
        assert_eq!(
            did_you_mean("refund", ["create_charge", "list_charges"]),
            None
        );
    }

    #[test]
    fn toml_problems_are_all_reported_with_line_and_column() {
        let dir = std::env::temp_dir().join(format!("zhifu-cfg-lc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "[server]\nread_only = true\nstate = \"x\"\n\n[pingpp]\nap_key = \"sk_test_SECRET\"\n",
        )
        .unwrap();
        let err = Loader::new().file(&path).err().unwrap().to_string();
        assert!(err.contains("2 problems"), "{err}");
        assert!(
            err.contains("line 3, column 1: unknown setting [server] state"),
            "{err}"
        );
        assert!(
            err.contains(
                "line 6, column 1: unknown setting [pingpp] ap_key; did you mean [pingpp] api_key?"
            ),
            "{err}"
        );
        assert!(!err.contains("SECRET"), "{err}");
        std::fs::write(&path, "[pingpp]\napi_key = \"sk_test_x\"\napp_id = \n").unwrap();
        let err = Loader::new().file(&path).err().unwrap().to_string();
        assert!(err.contains("line 3, column"), "{err}");
    }
}
