use std::path::PathBuf;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use switchboard::{
    config::{Config, Role},
    db, services, startup, telemetry,
};

/// Switchboard: self-hosted admin and integration core for omnichannel messaging.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Config file (TOML); default `$SWITCHBOARD_CONFIG`, else `./switchboard.toml` if present.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// What this instance runs when serving: `all` (API, console and delivery workers),
    /// `api` or `worker`. Default `$SWITCHBOARD_ROLE`, else `all`.
    #[arg(long, global = true, value_enum)]
    role: Option<Role>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the API, the delivery workers and the console (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Administration tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a platform administrator.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        #[arg(long)]
        name: Option<String>,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config) {
        Ok(mut c) => {
            if let Some(r) = cli.role {
                c.role = r;
            }
            c
        }
        Err(e) => {
            eprintln!("switchboard: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init_logs(&config.log_format);
    match run(cli.command.unwrap_or(Command::Serve), config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("switchboard: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let app = startup::Application::build(config).await?;
            let db = app.state.db.clone();
            let outcome = app.run_until(startup::shutdown_signal()).await;
            // Closed, so that PostgreSQL sees each session end rather than a reset connection
            // (which it logs as an error); bounded, as work past the grace period may still
            // hold a connection.
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(2), db.close_by_ref()).await;
            outcome
        }
        Command::Migrate => {
            let conn = db::connect(&config).await?;
            db::migrate(&conn).await?;
            println!("migrations applied");
            let _ = conn.close().await;
            Ok(())
        }
        Command::Admin {
            command:
                AdminCommand::Create {
                    email,
                    password,
                    name,
                },
        } => {
            let conn = db::connect(&config).await?;
            db::migrate(&conn).await?;
            let input = services::users::NewUser {
                email,
                password,
                name,
                platform_admin: true,
            };
            let created = services::users::create(&conn, input).await;
            let _ = conn.close().await;
            match created {
                Ok(u) => {
                    println!("created administrator {} (id {})", u.email, u.id);
                    Ok(())
                }
                Err(switchboard::error::Error::Invalid(errs)) => {
                    let msg = errs.iter().map(|e| {
                        format!(
                            "{}: {}",
                            e.field
                                .as_ref()
                                .map(|f| f[1..].join("."))
                                .unwrap_or_default(),
                            e.message
                        )
                    });
                    anyhow::bail!(
                        "cannot create administrator: {}",
                        msg.collect::<Vec<_>>().join("; ")
                    )
                }
                Err(e) => Err(anyhow::anyhow!(
                    "cannot create administrator: {}",
                    e.public_message()
                )),
            }
        }
    }
}
