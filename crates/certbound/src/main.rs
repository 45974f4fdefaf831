//! The `certbound` command: runs the authorization server and the tools around it.
// Two audited `unsafe` calls: `umask(2)` in `private_umask`, `mi_collect` in
// `release_free_memory`.
#![deny(unsafe_code)]

mod call_cmd;
mod clients_cmd;
mod config_cmd;
mod demo_client;
mod gateway_cmd;
mod keys_cmd;
mod pki_cmd;
mod quickstart;
mod sample_api;
mod tls_client;
mod token_cmd;
mod users_cmd;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// certbound: OAuth 2.0 mutual-TLS client authentication and certificate-bound access tokens
/// (RFC 8705).
#[derive(Parser)]
#[command(name = "certbound", version, about)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the authorization server.
    Serve {
        /// The configuration file (see docs/configuration.md).
        #[arg(long, default_value = "certbound.toml", env = "CERTBOUND_CONFIG")]
        config: PathBuf,
    },
    /// Run the resource-server gateway: mTLS reverse proxy that enforces certificate-bound tokens.
    Gateway {
        /// The gateway configuration file (see docs/gateway.md).
        #[arg(long, default_value = "gateway.toml", env = "CERTBOUND_GATEWAY_CONFIG")]
        config: PathBuf,
    },
    /// Generate a development PKI and configuration in a directory, then run the server.
    Quickstart(quickstart::QuickstartArgs),
    /// Get an access token (client_credentials) over mTLS or with a secret, and explain it.
    Token(token_cmd::TokenArgs),
    /// Get a bound token and call an API through the gateway with the same certificate.
    Call(call_cmd::CallArgs),
    /// Run the sample API of the quickstart (plain HTTP behind the gateway; verifies the JWT).
    SampleApi(sample_api::SampleApiArgs),
    /// Run the demo web page: the certificate-bound token story in four steps.
    DemoClient(demo_client::DemoClientArgs),
    /// Development PKI: CA, server and client certificates, PKCS#12, JWKS.
    #[command(subcommand)]
    Pki(pki_cmd::PkiCommand),
    /// Inspect registered clients.
    #[command(subcommand)]
    Clients(clients_cmd::ClientsCommand),
    /// Check the configuration against its profile (`config check`).
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Create or upgrade the store's schema (also done at every start) and print its version.
    Migrate {
        /// The server configuration.
        #[arg(long, default_value = "certbound.toml", env = "CERTBOUND_CONFIG")]
        config: PathBuf,
    },
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(keys_cmd::KeysCommand),
    /// Manage the users who sign in at the authorization endpoint (stored in the store).
    #[command(subcommand)]
    Users(users_cmd::UsersCommand),
}

/// Logs to stderr in `format`. Every field value and message is escaped by the formatter
/// (`certbound_net::log_format`), so nothing a request or a certificate carried can forge a line.
///
/// `batched` (the long-running servers): events are formatted on the thread that logs them, as
/// before, but written by one log thread that drains everything queued and writes it with one
/// `write(2)`, instead of one system call per audit line on the request path (bench/README.md,
/// "What moved what"). Nothing is dropped: a full queue (128k lines) makes the logging thread
/// wait. The returned guard flushes what is queued when dropped (at the end of `run`, before an
/// error is printed); a process killed by SIGKILL loses the lines queued at that instant, at
/// most the ones logged since the log thread last ran.
fn init_logging(
    format: LogFormat,
    batched: bool,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use certbound_net::log_format;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let format = match format {
        LogFormat::Text => log_format::LogFormat::Text,
        LogFormat::Json => log_format::LogFormat::Json,
    };
    // Colour codes only for a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // `try_init` also routes records of the `log` crate (dependencies) through the formatter.
    if !batched {
        let _ = tracing_subscriber::util::SubscriberInitExt::try_init(log_format::subscriber(
            format,
            filter,
            std::io::stderr,
            ansi,
        ));
        return None;
    }
    // The log thread flushes the buffer whenever the queue is empty, so a line waits only while
    // more lines are queued behind it.
    let buffered = std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("certbound-log")
        .finish(buffered);
    let _ = tracing_subscriber::util::SubscriberInitExt::try_init(log_format::subscriber(
        format, filter, writer, ansi,
    ));
    Some(guard)
}

/// mimalloc instead of the system allocator: the request paths allocate small, short-lived
/// buffers (headers, JSON, TLS records), and glibc malloc took a tenth of the gateway's CPU in
/// profiles (bench/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    private_umask();
    certbound_store::argon2_slots::on_idle(release_free_memory);
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", describe_error(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Makes everything this process creates private to its user (umask 077), before any thread
/// or file exists: the SQLite key store and its -wal/-shm files, quickstart's configurations (which
/// may hold client secrets), PKI files, and anything added later. Files meant for others
/// (certificates, JWKS) are given mode 0644 explicitly where they are written.
fn private_umask() {
    #[cfg(unix)]
    #[allow(unsafe_code)]
    // SAFETY: umask(2) only replaces the process's file mode creation mask: it takes no pointer,
    // cannot fail, and runs here before any other thread exists.
    unsafe {
        libc::umask(0o077);
    }
}

/// Returns the allocator's free memory to the operating system. Called once the server has
/// started, and registered with the argon2 slots, which call it once sign-ins have paused: each
/// argon2id computation frees 19 MiB that mimalloc would otherwise keep resident for good (its
/// delayed purge only runs when the process allocates again), 64 MB of RSS instead of 45 after a
/// single sign-in (bench/README.md).
fn release_free_memory() {
    #[allow(unsafe_code)]
    // SAFETY: mi_collect takes no pointer; it frees and purges mimalloc's own unused pages, and
    // is safe to call from any thread at any time.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
}

/// An error and its causes in words, each cause once: library errors often repeat their source
/// in their own message, so a cause already contained in the text so far is not printed again.
/// (anyhow's default report would also print a backtrace whenever RUST_BACKTRACE is set.)
fn describe_error(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str("\n  because: ");
            text.push_str(&cause);
        }
    }
    text
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The servers log through the batching log thread; one-shot commands write directly (they
    // may end with `process::exit`, which would skip the guard's flush).
    let serves = matches!(
        cli.command,
        Command::Serve { .. }
            | Command::Gateway { .. }
            | Command::Quickstart(_)
            | Command::SampleApi(_)
            | Command::DemoClient(_)
    );
    let _log_guard = init_logging(cli.log_format, serves);
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    if let Command::Pki(cmd) = cli.command {
        return pki_cmd::run(cmd);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { config } => serve(config).await,
            Command::Gateway { config } => gateway_cmd::run(config).await,
            Command::Quickstart(args) => quickstart::run(args).await,
            Command::Token(args) => token_cmd::run(args).await,
            Command::Call(args) => call_cmd::run(args).await,
            Command::SampleApi(args) => sample_api::run(args).await,
            Command::DemoClient(args) => demo_client::run(args).await,
            Command::Clients(cmd) => {
                if !clients_cmd::run(cmd).await? {
                    std::process::exit(1);
                }
                Ok(())
            }
            Command::Config(cmd) => {
                if !config_cmd::run(cmd).await? {
                    std::process::exit(1);
                }
                Ok(())
            }
            Command::Keys(cmd) => keys_cmd::run(cmd).await,
            Command::Users(cmd) => {
                if !users_cmd::run(cmd).await? {
                    std::process::exit(1);
                }
                Ok(())
            }
            Command::Migrate { config } => {
                let cfg = certbound_server::config::Config::load(&config)?;
                cfg.config
                    .store
                    .connect()
                    .await
                    .context("migrating the store")?;
                println!(
                    "store schema is at version {}",
                    certbound_store::SCHEMA_VERSION
                );
                Ok(())
            }
            Command::Pki(_) => unreachable!("handled above"),
        }
    })
}

/// Loads the configuration, starts the server and runs until SIGINT/SIGTERM.
pub async fn serve(config: PathBuf) -> anyhow::Result<()> {
    let cfg = certbound_server::config::Config::load(&config)?;
    let server = certbound_server::start(cfg.clone()).await?;
    // Loading hashed the configuration's plain client secrets with argon2 (19 MiB each, freed):
    // give that memory back before serving.
    release_free_memory();
    let reload = {
        let (reloader, state) = (server.reload.clone(), server.state.clone());
        move || {
            if let Err(e) = reloader.reload(&cfg, &state) {
                tracing::error!(error = %e, "reloading the TLS files failed; keeping the current ones");
            }
        }
    };
    tokio::select! {
        _ = shutdown_signal() => {}
        _ = on_reload_signal(reload) => {}
    }
    tracing::info!("shutting down: draining open connections");
    server.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// Calls `reload` on every SIGHUP (certificates and trust anchors are re-read without a
/// restart); never resolves.
pub async fn on_reload_signal(reload: impl Fn()) {
    #[cfg(unix)]
    {
        if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading TLS certificates and trust anchors");
                reload();
            }
        }
    }
    let _ = &reload;
    std::future::pending::<()>().await
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
