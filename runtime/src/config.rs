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

/// The environment variables each key is read from, first match wins. Aliases follow the canonical name.
const ENV_NAMES: &[(&str, &[&str])] = &[
    ("pingpp.api_key", &["PINGPP_API_KEY"]),
    ("pingpp.app_id", &["PINGPP_APP_ID"]),
    ("pingpp.private_key", &["PINGPP_PRIVATE_KEY"]),
    ("pingpp.private_key_path", &["PINGPP_PRIVATE_KEY_PATH"]),
    ("pingpp.public_key", &["PINGPP_PUBLIC_KEY"]),
    ("pingpp.public_key_path", &["PINGPP_PUBLIC_KEY_PATH"]),
    ("pingpp.api_base", &["PINGPP_API_BASE"]),
    ("alipay.app_id", &["ALIPAY_APP_ID", "AP_APP_ID"]),
    ("alipay.private_key", &["ALIPAY_PRIVATE_KEY", "AP_APP_KEY"]),
    ("alipay.private_key_path", &["ALIPAY_PRIVATE_KEY_PATH"]),
    ("alipay.public_key", &["ALIPAY_PUBLIC_KEY", "AP_PUB_KEY"]),
    ("alipay.public_key_path", &["ALIPAY_PUBLIC_KEY_PATH"]),
    ("alipay.gateway", &["ALIPAY_GATEWAY"]),
    ("alipay.env", &["ALIPAY_ENV", "AP_CURRENT_ENV"]),
    ("alipay.app_cert_path", &["ALIPAY_APP_CERT_PATH"]),
    ("alipay.cert_path", &["ALIPAY_CERT_PATH"]),
    ("alipay.root_cert_path", &["ALIPAY_ROOT_CERT_PATH"]),
    ("alipay.notify_url", &["ALIPAY_NOTIFY_URL", "AP_NOTIFY_URL"]),
    ("alipay.return_url", &["ALIPAY_RETURN_URL", "AP_RETURN_URL"]),
    ("alipay.app_auth_token", &["ALIPAY_APP_AUTH_TOKEN"]),
    (
        "alipay.sign_type",
        &["ALIPAY_SIGN_TYPE", "AP_ENCRYPTION_ALGO"],
    ),
    ("server.tools", &["ZHIFU_TOOLS", "AP_SELECT_TOOLS"]),
    ("server.tool_prefix", &["ZHIFU_TOOL_PREFIX"]),
    ("server.compat", &["ZHIFU_COMPAT"]),
    ("server.read_only", &["ZHIFU_READ_ONLY"]),
    ("server.state_dir", &["ZHIFU_STATE_DIR"]),
    ("server.state_db", &["ZHIFU_STATE_DB"]),
    ("server.audit_log", &["ZHIFU_AUDIT_LOG"]),
    ("server.audit_max_bytes", &["ZHIFU_AUDIT_MAX_BYTES"]),
    ("server.http_timeout_ms", &["ZHIFU_HTTP_TIMEOUT_MS"]),
    ("policy.deny_tools", &["ZHIFU_DENY_TOOLS"]),
    ("policy.allow_live_writes", &["ZHIFU_ALLOW_LIVE_WRITES"]),
    ("policy.confirm", &["ZHIFU_CONFIRM"]),
    ("policy.transfer_payees", &["ZHIFU_TRANSFER_PAYEES"]),
    (
        "policy.pingpp.max_per_call_yuan",
        &["ZHIFU_PINGPP_MAX_PER_CALL_YUAN"],
    ),
    (
        "policy.pingpp.max_daily_yuan",
        &["ZHIFU_PINGPP_MAX_DAILY_YUAN"],
    ),
    (
        "policy.alipay.max_per_call_yuan",
        &["ZHIFU_ALIPAY_MAX_PER_CALL_YUAN"],
    ),
    (
        "policy.alipay.max_daily_yuan",
        &["ZHIFU_ALIPAY_MAX_DAILY_YUAN"],
    ),
];

/// Settings of other servers that are read but have no effect here, with what to use instead;
/// the binary prints these on stderr when they are set.
pub fn ignored_settings(get: impl Fn(&str) -> Option<String>) -> Vec<String> {
    get("AP_LOG_ENABLED")
        .map(|_| {
            "AP_LOG_ENABLED (the official Alipay server's log file) has no effect: zhifu-mcp logs to \
             stderr (RUST_LOG) and records every call in its audit log (ZHIFU_AUDIT_LOG)"
                .to_string()
        })
        .into_iter()
        .collect()
}

/// Default Ping++ API base URL.
pub const PINGPP_DEFAULT_BASE: &str = "https://api.pingxx.com";

/// A configuration problem, naming the setting (never its value).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
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
    /// Tool names carry their provider: `pingpp_create_charge` (`ZHIFU_TOOL_PREFIX=provider`).
    pub tool_prefix: bool,
    /// List another server's tools under its names (`ZHIFU_COMPAT=alipay-official`).
    pub compat: Option<crate::tool::Compat>,
    pub policy: PolicyConfig,
    pub state: StateConfig,
}

/// Where durable state lives and how long HTTP calls may take.
#[derive(Debug, Clone, Default)]
pub struct StateConfig {
    /// Folder for the state database and the audit log (`ZHIFU_STATE_DIR`).
    pub dir: Option<PathBuf>,
    /// SQLite file with idempotency records and spending counters (`ZHIFU_STATE_DB`).
    pub db: Option<PathBuf>,
    /// Append-only JSON Lines audit log (`ZHIFU_AUDIT_LOG`; `off` disables it).
    pub audit_log: Option<PathBuf>,
    pub audit_disabled: bool,
    /// Rotate the audit log at this size (`ZHIFU_AUDIT_MAX_BYTES`, default 10 MiB).
    pub audit_max_bytes: u64,
    /// Whole-request timeout for gateway calls (`ZHIFU_HTTP_TIMEOUT_MS`, default 30 s).
    pub http_timeout_ms: Option<u64>,
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

    /// The settings that configure a provider, for "not configured" messages.
    pub fn required_setting(&self, provider: Provider) -> &'static str {
        match provider {
            Provider::Pingpp => "PINGPP_API_KEY",
            Provider::Alipay => "ALIPAY_APP_ID and its keys",
        }
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
        ENV_NAMES
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, names)| names[0])
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

    /// Reads a TOML file: `[pingpp] api_key = "…"`, `[server] tools = ["…"]`.
    pub fn file(mut self, path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|err| ConfigError::FileRead {
            path: shown.clone(),
            err,
        })?;
        let table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::FileParse {
                    path: shown.clone(),
                    message: e.message().to_string(),
                })?;
        let mut flat = Vec::new();
        flatten(&table, "", &mut flat).map_err(|message| ConfigError::FileParse {
            path: shown.clone(),
            message,
        })?;
        for (dotted, text) in flat {
            let Some((key, _)) = ENV_NAMES.iter().find(|(k, _)| *k == dotted) else {
                let (section, name) = dotted.rsplit_once('.').unwrap_or(("", dotted.as_str()));
                return Err(ConfigError::FileParse {
                    path: shown,
                    message: format!("unknown setting [{section}] {name}"),
                });
            };
            let (section, name) = key.rsplit_once('.').unwrap_or(("", key));
            self.raw.insert(
                key,
                Raw {
                    value: text,
                    source: format!("config file {shown} [{section}] {name}"),
                },
            );
        }
        Ok(self)
    }

    /// Reads the environment through `get` (a function so tests need not touch the process env).
    pub fn env(mut self, get: impl Fn(&str) -> Option<String>) -> Self {
        for (key, names) in ENV_NAMES {
            for name in *names {
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
                        .map(String::from)
                        .collect()
                })
                .filter(|v: &Vec<String>| !v.is_empty()),
            read_only: match self.get("server.read_only") {
                None => false,
                Some(r) => parse_bool(r)?,
            },
            tool_prefix: match self.get("server.tool_prefix") {
                None => false,
                Some(r) => match r.value.trim() {
                    "provider" => true,
                    "" | "none" => false,
                    _ => {
                        return Err(ConfigError::Invalid {
                            setting: r.source.clone(),
                            message: "must be `provider` (pingpp_create_charge) or `none`".into(),
                        });
                    }
                },
            },
            compat: match self.get("server.compat") {
                None => None,
                Some(r) if r.value.trim().eq_ignore_ascii_case("none") => None,
                Some(r) => Some(crate::compat::parse_mode(&r.value).ok_or_else(|| {
                    ConfigError::Invalid {
                        setting: r.source.clone(),
                        message: "must be `alipay-official` (list the official Alipay MCP server's five tools) or `none`".into(),
                    }
                })?),
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
            db: path("server.state_db"),
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

/// Flattens nested TOML tables into dotted keys; lists of strings become comma-separated text.
fn flatten(
    table: &toml::Table,
    prefix: &str,
    out: &mut Vec<(String, String)>,
) -> Result<(), String> {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let text = match value {
            toml::Value::Table(inner) => {
                flatten(inner, &key, out)?;
                continue;
            }
            _ if prefix.is_empty() => return Err(format!("`{name}` must be inside a [section]")),
            toml::Value::String(s) => s.clone(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Array(items) if items.iter().all(toml::Value::is_str) => items
                .iter()
                .filter_map(toml::Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
            _ => {
                return Err(format!(
                    "{key} must be a string, boolean, integer or list of strings"
                ));
            }
        };
        out.push((key, text));
    }
    Ok(())
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
}
