//! zhifu-mcp: parse the command line, load configuration, serve.
//!
//! With no provider credentials configured, the embedded sandbox gateways start in-process on
//! loopback with fresh keys and the server talks to them over real HTTP; no real money moves.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use serde_json::Value;
use zhifu_runtime::config::{
    AlipayConfig, AlipayEnv, Config, Loader, PingppConfig, Secret, ServerConfig,
};
use zhifu_runtime::engine::{Engine, Services};
use zhifu_runtime::keys;
use zhifu_runtime::server::{ZhifuServer, mcp_tool, to_result};

#[derive(Parser)]
#[command(
    name = "zhifu-mcp",
    version,
    about = "MCP server for Ping++ and Alipay payments, generated from YAML specs"
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
        /// Serve Streamable HTTP at http://ADDR/mcp instead of stdio, e.g. 127.0.0.1:8765.
        /// A non-loopback address needs ZHIFU_HTTP_TOKEN; see also ZHIFU_HTTP_ALLOWED_HOSTS
        /// and ZHIFU_HTTP_ALLOWED_ORIGINS.
        #[arg(long, value_name = "ADDR")]
        http: Option<SocketAddr>,
        /// With --http: no sessions, every request stands alone (JSON responses).
        #[arg(long, requires = "http")]
        stateless: bool,
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
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8181")]
        listen: SocketAddr,
        /// Folder for the generated key files.
        #[arg(long, value_name = "DIR")]
        keys_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zhifu-mcp: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("zhifu-mcp: {e:#}");
            ExitCode::FAILURE
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
    let libraries_at_info = filter::filter_fn(|meta| {
        meta.target().starts_with("zhifu") || *meta.level() <= tracing::Level::INFO
    });
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(env)
                .with_filter(libraries_at_info),
        )
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let command = cli.command.unwrap_or(Command::Serve {
        http: None,
        stateless: false,
    });
    if let Command::Sandbox { listen, keys_dir } = command {
        return run_sandbox(listen, keys_dir).await;
    }
    let config = load_config(cli.config, cli.read_only, cli.tools)?;
    if let Command::Tools { json } = command {
        let engine = Engine::new(zhifu_generated::TOOLS, config, Services::ephemeral())
            .map_err(anyhow::Error::msg)?;
        print_tools(&engine, json)?;
        return Ok(ExitCode::SUCCESS);
    }
    let engine = Arc::new(engine_for(config).await?);
    match command {
        Command::Call { tool, args } => {
            let args: Value =
                serde_json::from_str(&args).context("the arguments must be a JSON object")?;
            let Value::Object(args) = args else {
                anyhow::bail!("the arguments must be a JSON object")
            };
            let def = engine.all_tools().iter().copied().find(|t| t.name == tool);
            let outcome = engine.call(&tool, args).await;
            let failed = outcome.is_err();
            let result = to_result(def, outcome, None);
            println!("{}", serde_json::to_string_pretty(&result)?);
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Serve {
            http: Some(addr),
            stateless,
        } => {
            let options = zhifu_runtime::http_transport::HttpOptions {
                stateless,
                ..zhifu_runtime::http_transport::HttpOptions::from_env(|name| {
                    std::env::var(name).ok()
                })
            };
            zhifu_runtime::http_transport::serve_http(ZhifuServer::new(engine), addr, options)
                .await?;
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            zhifu_runtime::stdio::serve(ZhifuServer::new(engine)).await?;
            Ok(ExitCode::SUCCESS)
        }
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
async fn engine_for(config: Config) -> anyhow::Result<Engine> {
    let sandbox = config.has_no_provider();
    let services = Services::open(&config.server.state, sandbox)
        .await
        .map_err(anyhow::Error::msg)?;
    if !sandbox {
        return Engine::new(zhifu_generated::TOOLS, config, services).map_err(anyhow::Error::msg);
    }
    let server: ServerConfig = config.server.clone();
    let pending = Box::pin(async move {
        let options = zhifu_sandbox::SandboxOptions {
            auto_pay: true,
            demo_bill_yesterday: true,
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
            notify_url: None,
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
    Engine::deferred(zhifu_generated::TOOLS, server, pending, services).map_err(anyhow::Error::msg)
}

fn print_tools(engine: &Engine, json: bool) -> anyhow::Result<()> {
    if json {
        let tools: Vec<_> = engine.listed().map(|(_, t)| mcp_tool(t)).collect();
        println!("{}", serde_json::to_string_pretty(&tools)?);
        return Ok(());
    }
    for (_, t) in engine.listed() {
        println!(
            "{:<28} {:<8} {:<13} {}",
            t.name,
            t.provider.as_str(),
            t.effect.as_str(),
            t.title
        );
    }
    Ok(())
}

async fn run_sandbox(listen: SocketAddr, keys_dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let sandbox = zhifu_sandbox::start(listen, zhifu_sandbox::SandboxOptions::default()).await?;
    let dir = keys_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("zhifu-sandbox-{}", sandbox.addr.port()))
    });
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let private = dir.join("pingpp_merchant_private_key.pem");
    let public = dir.join("pingpp_public_key.pem");
    std::fs::write(&private, &sandbox.pingpp.merchant_private_key_pem)?;
    std::fs::write(&public, &sandbox.pingpp.pingpp_public_key_pem)?;
    eprintln!(
        "zhifu-mcp sandbox: Ping++ test-mode gateway on {} (no real money moves). Point a server at it with:",
        sandbox.base_url
    );
    println!("PINGPP_API_BASE={}", sandbox.base_url);
    println!("PINGPP_API_KEY={}", sandbox.pingpp.api_key);
    println!("PINGPP_APP_ID={}", sandbox.pingpp.app_id);
    println!("PINGPP_PRIVATE_KEY_PATH={}", private.display());
    println!("PINGPP_PUBLIC_KEY_PATH={}", public.display());
    tokio::signal::ctrl_c().await?;
    Ok(ExitCode::SUCCESS)
}
