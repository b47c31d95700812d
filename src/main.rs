//! zhifu-mcp: parse the command line, load configuration, serve.
//!
//! With no provider credentials configured, the embedded sandbox gateways start in-process on
//! loopback with fresh keys and the server talks to them over real HTTP; no real money moves.

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

mod prompts;

use anyhow::Context as _;
use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use serde_json::Value;
use zhifu_runtime::config::{
    AlipayConfig, AlipayEnv, Config, ConfigError, Loader, PingppConfig, Secret, ServerConfig,
    did_you_mean, settings_help, unknown_env_warnings,
};
use zhifu_runtime::engine::{Engine, Services};
use zhifu_runtime::keys;
use zhifu_runtime::server::{
    ZhifuServer, call_args, in_alias_terms, listed_tools, resolve, to_result,
};

/// Exit status: 0 success, 1 a tool reported an error, 2 usage error (clap's too), 3 configuration
/// error, 4 any other failure (cannot listen, I/O).
const EXIT_TOOL: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_CONFIG: u8 = 3;
const EXIT_OTHER: u8 = 4;

const EXIT_HELP: &str = "Exit status: 0 success, 1 a tool reported an error (`call`), 2 usage error, \
                         3 configuration error, 4 other failure (e.g. cannot listen).";

/// A failure and the exit status it gets.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl Failure {
    fn usage(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: EXIT_USAGE,
            error: error.into(),
        }
    }
    fn config(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: EXIT_CONFIG,
            error: error.into(),
        }
    }
}

/// Anything not classified otherwise: a configuration error if it is one, else "other".
impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        let error = error.into();
        let code = if error.downcast_ref::<ConfigError>().is_some() {
            EXIT_CONFIG
        } else {
            EXIT_OTHER
        };
        Failure { code, error }
    }
}

#[derive(Parser)]
#[command(
    name = "zhifu-mcp",
    version,
    about = "MCP server for Ping++ and Alipay payments, generated from YAML specs",
    long_about = "MCP server for Ping++ and Alipay payments, generated from YAML specs.\n\n\
                  With no command it serves MCP over stdio for a client (Claude Desktop, Cursor, \
                  VS Code, …). With no provider credentials it runs on the embedded sandbox \
                  gateways: no real money moves. Try it by hand with `zhifu-mcp tools` and \
                  `zhifu-mcp call list_charges '{\"limit\": 3}'`."
)]
struct Cli {
    /// TOML configuration file (also ZHIFU_CONFIG).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// List and allow only read tools (also ZHIFU_READ_ONLY=1).
    #[arg(long, global = true)]
    read_only: bool,
    /// Comma-separated allowlist of tool names (also ZHIFU_TOOLS).
    #[arg(long, global = true, value_name = "NAMES")]
    tools: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve MCP over stdio (the default), or over Streamable HTTP with --http.
    Serve {
        /// Serve Streamable HTTP at http://ADDR/mcp instead of stdio, e.g. 127.0.0.1:8765
        /// (localhost:PORT means 127.0.0.1:PORT). A non-loopback address needs
        /// ZHIFU_HTTP_TOKEN; see also ZHIFU_HTTP_ALLOWED_HOSTS and ZHIFU_HTTP_ALLOWED_ORIGINS.
        #[arg(long, value_name = "ADDR", value_parser = parse_listen_addr)]
        http: Option<SocketAddr>,
        /// With --http: no sessions, every request stands alone (JSON responses).
        #[arg(long, requires = "http")]
        stateless: bool,
    },
    /// Receive Ping++ webhooks (POST /webhooks/pingpp) and Alipay notifications
    /// (POST /notify/alipay) into the state database, for servers whose MCP runs over stdio.
    Receive {
        /// Address to listen on; the gateways must reach it (usually through a reverse proxy).
        #[arg(long, default_value = "127.0.0.1:8766", value_parser = parse_listen_addr)]
        listen: SocketAddr,
    },
    /// List the tools.
    Tools {
        /// Print the MCP tool definitions as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Call one tool and print its result.
    Call {
        /// Tool name, e.g. list_charges.
        tool: String,
        /// Arguments as a JSON object.
        #[arg(default_value = "{}")]
        args: String,
    },
    /// Run the sandbox gateways alone and print the settings that point a server at them.
    Sandbox {
        /// Address to listen on (localhost:PORT means 127.0.0.1:PORT).
        #[arg(long, default_value = "127.0.0.1:8181", value_parser = parse_listen_addr)]
        listen: SocketAddr,
        /// Folder for the generated key files.
        #[arg(long, value_name = "DIR")]
        keys_dir: Option<PathBuf>,
    },
}

/// An address to listen on: `IP:PORT`, or `localhost:PORT` (127.0.0.1, the name clients use).
fn parse_listen_addr(text: &str) -> Result<SocketAddr, String> {
    if let Some(port) = text.strip_prefix("localhost:") {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("`{port}` is not a port number"))?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| {
        format!("expected IP:PORT such as 127.0.0.1:8765 (or localhost:8765), got `{text}`")
    })
}

fn main() -> ExitCode {
    let help = format!("{}\n{EXIT_HELP}", settings_help());
    let matches = Cli::command()
        .after_help(format!(
            "{EXIT_HELP} `--help` lists the environment variables."
        ))
        .after_long_help(help)
        .get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    init_logging();
    for warning in
        unknown_env_warnings(std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()))
    {
        eprintln!("zhifu-mcp: warning: {warning}");
    }
    // Two workers at most (HTTP under load gains from a second; memory does not need more), and
    // no more than the cores this process may run on: two workers sharing one core (`taskset`,
    // a one-CPU container) hand every request back and forth between them, and the context
    // switches cost more than the request (docs/PERFORMANCE.md, "What changed": stateful p99 at
    // ten connections 5.0 → 1.2 ms).
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zhifu-mcp: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_OTHER);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(Failure { code, error }) => {
            eprintln!("zhifu-mcp: {error:#}");
            ExitCode::from(code)
        }
    }
}

/// Logs on stderr, filtered by `RUST_LOG` (default `warn`). Libraries (rmcp, hyper, h2,
/// reqwest, rustls, …) log whole protocol messages and HTTP headers at debug and trace —
/// arguments, auth codes, tokens, the API key — so their events below INFO are dropped whatever
/// `RUST_LOG` says; zhifu's own crates log no secret at any level.
fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::{EnvFilter, Layer as _, filter};
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    // The outer filter passes nothing `env` refuses, so it inherits `env`'s most verbose level:
    // without that hint tracing assumes TRACE, and every library span (rmcp opens a few per
    // request) is built and entered before the filters drop it (~6% of a request's CPU).
    let libraries_at_info = filter::filter_fn(|meta| {
        meta.target().starts_with("zhifu") || *meta.level() <= tracing::Level::INFO
    })
    .with_max_level_hint(env.max_level_hint().unwrap_or(filter::LevelFilter::TRACE));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(env)
                .with_filter(libraries_at_info),
        )
        .init();
}

async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let command = cli.command.unwrap_or(Command::Serve {
        http: None,
        stateless: false,
    });
    if let Command::Sandbox { listen, keys_dir } = command {
        return run_sandbox(listen, keys_dir).await;
    }
    let config = load_config(cli.config, cli.read_only, cli.tools).map_err(Failure::config)?;
    for notice in zhifu_runtime::config::ignored_settings(|name| std::env::var(name).ok()) {
        eprintln!("zhifu-mcp: warning: {notice}");
    }
    if let Command::Tools { json } = command {
        let engine = Engine::new(zhifu_generated::TOOLS, config, Services::ephemeral())
            .map_err(|e| Failure::config(anyhow::Error::msg(e)))?;
        print_tools(&engine, json)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Call { tool, args } = &command {
        check_call(tool, args)?;
    }
    if let Command::Receive { listen } = command {
        if config.has_no_provider() {
            return Err(Failure::config(anyhow::anyhow!(
                "receive needs the gateways' public keys: configure Ping++ (PINGPP_PUBLIC_KEY) and/or Alipay"
            )));
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let engine = Arc::new(engine_for(config, None).await?);
        zhifu_runtime::receive::serve(
            engine,
            listener,
            zhifu_runtime::http_transport::shutdown_signal(),
        )
        .await?;
        return Ok(ExitCode::SUCCESS);
    }
    // `serve --http` binds first, so the embedded sandbox can deliver to its receivers.
    let listener = match &command {
        Command::Serve {
            http: Some(addr), ..
        } => {
            let options = zhifu_runtime::http_transport::HttpOptions::from_env(|name| {
                std::env::var(name).ok()
            });
            zhifu_runtime::http_transport::check_bind(*addr, &options).map_err(Failure::config)?;
            Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr}"))?,
            )
        }
        _ => None,
    };
    let receiver = match &listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    let engine = Arc::new(engine_for(config, receiver).await?);
    match command {
        Command::Call { tool, args } => {
            let Ok(Value::Object(args)) = serde_json::from_str(&args) else {
                unreachable!("check_call accepted the arguments")
            };
            let (def, outcome) = match resolve(&engine, &tool) {
                // The official Alipay server's names and argument names work here too.
                Some((def, alias)) => {
                    let outcome = match call_args(def, alias, args) {
                        Ok(args) => engine.call(def.name, args).await,
                        Err(e) => Err(e),
                    };
                    (Some(def), in_alias_terms(alias, outcome))
                }
                None => (None, engine.call(&tool, args).await),
            };
            let failed = outcome.is_err();
            let result = to_result(def, outcome, None);
            println!("{}", serde_json::to_string_pretty(&result)?);
            Ok(if failed {
                ExitCode::from(EXIT_TOOL)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Serve {
            http: Some(_),
            stateless,
        } => {
            let options = zhifu_runtime::http_transport::HttpOptions {
                stateless,
                ..zhifu_runtime::http_transport::HttpOptions::from_env(|name| {
                    std::env::var(name).ok()
                })
            };
            let listener = listener.context("the HTTP listener is bound above")?;
            zhifu_runtime::http_transport::serve_http_on(
                listener,
                ZhifuServer::new(engine)
                    .with_reference(zhifu_generated::TOOL_REFERENCE)
                    .with_prompts(prompts::PROMPTS),
                options,
                zhifu_runtime::http_transport::shutdown_signal(),
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            if std::io::stdin().is_terminal() {
                eprintln!(
                    "zhifu-mcp: serving MCP over stdio and waiting for an MCP client (Claude Desktop, \
                     Cursor, VS Code, …) to speak JSON-RPC on stdin; Ctrl-C or Ctrl-D stops. To try \
                     it by hand: `zhifu-mcp tools` lists the tools, `zhifu-mcp call list_charges \
                     '{{\"limit\": 3}}'` calls one; `zhifu-mcp --help` says more."
                );
            }
            zhifu_runtime::stdio::serve(
                ZhifuServer::new(engine)
                    .with_reference(zhifu_generated::TOOL_REFERENCE)
                    .with_prompts(prompts::PROMPTS),
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A usage error before anything starts: an unknown tool (with a did-you-mean), arguments that
/// are not a JSON object.
fn check_call(tool: &str, args: &str) -> Result<(), Failure> {
    let names = || zhifu_generated::TOOLS.iter().map(|t| t.name);
    // Also another server's name for a tool, or a provider-prefixed name (`pingpp_create_charge`).
    let known = names().any(|n| n == tool)
        || zhifu_runtime::compat::alias_named(zhifu_generated::TOOLS, tool).is_some()
        || zhifu_generated::TOOLS
            .iter()
            .any(|t| tool == format!("{}_{}", t.provider.as_str(), t.name));
    if !known {
        let hint = match did_you_mean(tool, names()) {
            Some(name) => format!("; did you mean `{name}`?"),
            None => String::new(),
        };
        return Err(Failure::usage(anyhow::anyhow!(
            "unknown tool `{tool}`{hint} (`zhifu-mcp tools` lists them)"
        )));
    }
    match serde_json::from_str::<Value>(args) {
        Ok(Value::Object(_)) => Ok(()),
        Ok(_) => Err(Failure::usage(anyhow::anyhow!(
            "the arguments must be a JSON object, e.g. '{{\"limit\": 3}}'"
        ))),
        Err(e) => Err(Failure::usage(
            anyhow::Error::new(e).context("the arguments must be a JSON object"),
        )),
    }
}

fn load_config(
    path: Option<PathBuf>,
    read_only: bool,
    tools: Option<String>,
) -> anyhow::Result<Config> {
    let mut loader = Loader::new();
    if let Some(path) = path.or_else(|| std::env::var_os("ZHIFU_CONFIG").map(PathBuf::from)) {
        loader = loader.file(&path)?;
    }
    loader = loader.env(|name| std::env::var(name).ok());
    if read_only {
        loader = loader.flag("server.read_only", "true", "--read-only");
    }
    if let Some(tools) = tools {
        loader = loader.flag("server.tools", tools, "--tools");
    }
    Ok(loader.build()?)
}

/// With credentials: an engine on them. Without: an engine whose gateways are the embedded sandbox,
/// started in the background so `tools/list` does not wait for key generation.
/// `receiver`: where `serve --http` listens; the embedded sandbox then sends its webhooks and
/// notifications to the receivers there.
async fn engine_for(config: Config, receiver: Option<SocketAddr>) -> Result<Engine, Failure> {
    let sandbox = config.has_no_provider();
    let services = Services::open(&config.server.state, sandbox)
        .await
        .map_err(anyhow::Error::msg)?;
    if !sandbox {
        return Engine::new(zhifu_generated::TOOLS, config, services)
            .map_err(|e| Failure::config(anyhow::Error::msg(e)));
    }
    let server: ServerConfig = config.server.clone();
    let pending = Box::pin(async move {
        let receiver = receiver.map(|a| format!("http://{a}"));
        let options = zhifu_sandbox::SandboxOptions {
            auto_pay: true,
            demo_bill_yesterday: true,
            webhook_url: receiver
                .as_ref()
                .map(|r| format!("{r}{}", zhifu_runtime::receive::PINGPP_PATH)),
            ..Default::default()
        };
        let sandbox = zhifu_sandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), options)
            .await
            .map_err(|e| e.to_string())?;
        eprintln!(
            "zhifu-mcp: no provider credentials configured; using the embedded sandbox gateway at {} \
             (Ping++ test mode with charges paid automatically, Alipay sandbox gateway {}). No real money moves.",
            sandbox.base_url, sandbox.alipay.gateway_url
        );
        let creds = &sandbox.pingpp;
        let key_err = |e: zhifu_runtime::keys::KeyError| e.to_string();
        let pingpp = PingppConfig {
            api_key: Secret::new(creds.api_key.clone()),
            app_id: Some(creds.app_id.clone()),
            private_key: Some(
                keys::private_key_from_text(&creds.merchant_private_key_pem, "embedded sandbox")
                    .map_err(key_err)?,
            ),
            public_key: Some(
                keys::public_key_from_text(&creds.pingpp_public_key_pem, "embedded sandbox")
                    .map_err(key_err)?,
            ),
            api_base: sandbox.base_url.clone(),
        };
        let alipay = AlipayConfig {
            app_id: sandbox.alipay.app_id.clone(),
            private_key: keys::private_key_from_text(
                &sandbox.alipay.app_private_key_pem,
                "embedded sandbox",
            )
            .map_err(key_err)?,
            alipay_public_key: keys::public_key_from_text(
                &sandbox.alipay.alipay_public_key_pem,
                "embedded sandbox",
            )
            .map_err(key_err)?,
            cert: None,
            gateway: sandbox.alipay.gateway_url.clone(),
            env: AlipayEnv::Sandbox,
            notify_url: receiver
                .as_ref()
                .map(|r| format!("{r}{}", zhifu_runtime::receive::ALIPAY_PATH)),
            return_url: None,
            app_auth_token: None,
        };
        // The sandbox lives as long as the process.
        std::mem::forget(sandbox);
        Ok(Config {
            pingpp: Some(pingpp),
            alipay: Some(alipay),
            server: config.server,
            sandbox: true,
        })
    });
    eprintln!(
        "zhifu-mcp: no provider credentials configured; starting the embedded sandbox (no real money moves)."
    );
    Engine::deferred(zhifu_generated::TOOLS, server, pending, services)
        .map_err(|e| Failure::config(anyhow::Error::msg(e)))
}

/// Prints the listed tools; a closed pipe (`zhifu-mcp tools | head`) is not an error.
fn print_tools(engine: &Engine, json: bool) -> anyhow::Result<()> {
    use std::fmt::Write as _;
    use std::io::Write as _;
    let mut out = String::new();
    let tools = listed_tools(engine);
    if json {
        out = serde_json::to_string_pretty(&tools)? + "\n";
    } else {
        for tool in &tools {
            let def = resolve(engine, &tool.name).map(|(d, _)| d);
            let provider = def.map_or("", |d| d.provider.as_str());
            let effect = def.map_or("", |d| d.effect.as_str());
            let title = tool.title.as_deref().unwrap_or_default();
            writeln!(out, "{:<30} {provider:<8} {effect:<13} {title}", tool.name)?;
        }
    }
    match std::io::stdout().lock().write_all(out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

async fn run_sandbox(listen: SocketAddr, keys_dir: Option<PathBuf>) -> Result<ExitCode, Failure> {
    let sandbox = zhifu_sandbox::start(listen, zhifu_sandbox::SandboxOptions::default()).await?;
    let dir = keys_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("zhifu-sandbox-{}", sandbox.addr.port()))
    });
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let write = |name: &str, pem: &str| -> anyhow::Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, pem).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    };
    let (pingpp, alipay) = (&sandbox.pingpp, &sandbox.alipay);
    let settings = [
        ("PINGPP_API_BASE", sandbox.base_url.clone()),
        ("PINGPP_API_KEY", pingpp.api_key.clone()),
        ("PINGPP_APP_ID", pingpp.app_id.clone()),
        (
            "PINGPP_PRIVATE_KEY_PATH",
            write(
                "pingpp_merchant_private_key.pem",
                &pingpp.merchant_private_key_pem,
            )?
            .display()
            .to_string(),
        ),
        (
            "PINGPP_PUBLIC_KEY_PATH",
            write("pingpp_public_key.pem", &pingpp.pingpp_public_key_pem)?
                .display()
                .to_string(),
        ),
        ("ALIPAY_GATEWAY", alipay.gateway_url.clone()),
        ("ALIPAY_ENV", "sandbox".to_string()),
        ("ALIPAY_APP_ID", alipay.app_id.clone()),
        (
            "ALIPAY_PRIVATE_KEY_PATH",
            write("alipay_app_private_key.pem", &alipay.app_private_key_pem)?
                .display()
                .to_string(),
        ),
        (
            "ALIPAY_PUBLIC_KEY_PATH",
            write("alipay_public_key.pem", &alipay.alipay_public_key_pem)?
                .display()
                .to_string(),
        ),
    ];
    eprintln!(
        "zhifu-mcp sandbox: Ping++ test-mode gateway on {} and Alipay sandbox gateway {} (no real \
         money moves). Point a server at them with these settings (Ctrl-C stops):",
        sandbox.base_url, alipay.gateway_url
    );
    for (name, value) in settings {
        println!("{name}={value}");
    }
    tokio::signal::ctrl_c().await?;
    Ok(ExitCode::SUCCESS)
}
