//! Configuration: environment variables, an optional TOML file and command-line overrides.
//!
//! Precedence: built-in defaults < TOML file (`--config`, `ZHIFU_CONFIG`) < environment < flags.
//! Every value remembers where it came from so errors can name the setting without echoing it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use rsa::{PrivateKey, PublicKey};

use crate::keys::{self, KeyError};

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
    ("server.tools", &["ZHIFU_TOOLS"]),
    ("server.read_only", &["ZHIFU_READ_ONLY"]),
];

/// Keys a TOML file may set, as `[section] name`.
const FILE_KEYS: &[&str] = &[
    "pingpp.api_key",
    "pingpp.app_id",
    "pingpp.private_key",
    "pingpp.private_key_path",
    "pingpp.public_key",
    "pingpp.public_key_path",
    "pingpp.api_base",
    "server.tools",
    "server.read_only",
];

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

/// Server-wide switches.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// Only these tools are listed and callable (`ZHIFU_TOOLS`); `None` means all.
    pub tools: Option<Vec<String>>,
    /// Only tools whose effect is `read` are listed and callable (`ZHIFU_READ_ONLY=1`).
    pub read_only: bool,
}

/// Everything the runtime needs.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub pingpp: Option<PingppConfig>,
    pub server: ServerConfig,
    /// Set when the embedded sandbox supplied the credentials.
    pub sandbox: bool,
}

impl Config {
    /// True when no provider credentials were given: the embedded sandbox should start.
    pub fn has_no_provider(&self) -> bool {
        self.pingpp.is_none()
    }

    /// The value of a configuration key that a spec names in `default_from` (e.g. `pingpp.app_id`).
    pub fn lookup(&self, key: &str) -> Option<&str> {
        match key {
            "pingpp.app_id" => self.pingpp.as_ref()?.app_id.as_deref(),
            _ => None,
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
        for (section, value) in &table {
            let toml::Value::Table(entries) = value else {
                return Err(ConfigError::FileParse {
                    path: shown,
                    message: format!("`{section}` must be a [section]"),
                });
            };
            for (name, value) in entries {
                let dotted = format!("{section}.{name}");
                let Some(key) = FILE_KEYS.iter().find(|k| **k == dotted) else {
                    return Err(ConfigError::FileParse {
                        path: shown,
                        message: format!("unknown setting [{section}] {name}"),
                    });
                };
                let text = match value {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Boolean(b) => b.to_string(),
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Array(items) if items.iter().all(toml::Value::is_str) => items
                        .iter()
                        .filter_map(toml::Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","),
                    _ => {
                        return Err(ConfigError::FileParse {
                            path: shown,
                            message: format!(
                                "[{section}] {name} must be a string, boolean, integer or list of strings"
                            ),
                        });
                    }
                };
                self.raw.insert(
                    key,
                    Raw {
                        value: text,
                        source: format!("config file {shown} [{section}] {name}"),
                    },
                );
            }
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
        Ok(Config {
            pingpp,
            server,
            sandbox: false,
        })
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
