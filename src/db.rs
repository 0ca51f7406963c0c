//! Database connection (SQLite or PostgreSQL, chosen by `DATABASE_URL` at run time),
//! migrations, and the persisted master key.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, EntityTrait, Set,
    sea_query::OnConflict,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};

use crate::{config::Config, crypto};

const SECRET_KEY_SETTING: &str = "secret_key";

/// How long a SQLite writer waits for the file's one write lock before giving up. SQLite's busy
/// handler is not a queue (a waiter sleeps and retries while others may take the lock first), so
/// under a retry storm a 5 s wait was seen to run out and fail API writes; a longer wait
/// delays them instead.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens the pool. SQLite files are created when missing, run in WAL mode with
/// `synchronous=NORMAL` (durable across process crashes) and a [`SQLITE_BUSY_TIMEOUT`] wait for
/// the write lock.
pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let mut opts = ConnectOptions::new(config.database_url.clone());
    opts.max_connections(config.db_max_connections.max(1))
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
        });
    let db = Database::connect(opts)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open database: {e}"))?;
    Ok(db)
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .map_err(|e| anyhow::anyhow!("migrations failed: {e}"))?;
    Ok(())
}

/// True when every known migration has been applied.
pub async fn migrations_applied(db: &DatabaseConnection) -> bool {
    Migrator::get_pending_migrations(db)
        .await
        .map(|p| p.is_empty())
        .unwrap_or(false)
}

pub async fn ping(db: &DatabaseConnection) -> bool {
    db.execute_unprepared("SELECT 1").await.is_ok()
}

/// The configured master key, or the one kept in the database, generated on first start.
/// Concurrent first starts agree: the first insert wins and everyone reads it back.
pub async fn master_key(db: &DatabaseConnection, config: &Config) -> anyhow::Result<String> {
    if let Some(k) = &config.secret_key {
        return Ok(k.expose().to_string());
    }
    use entity::setting::{ActiveModel, Column, Entity};
    if let Some(s) = Entity::find_by_id(SECRET_KEY_SETTING).one(db).await? {
        return Ok(s.value);
    }
    let fresh = ActiveModel {
        key: Set(SECRET_KEY_SETTING.into()),
        value: Set(crypto::generate_master_key()),
        updated_at: Set(chrono::Utc::now()),
    };
    Entity::insert(fresh)
        .on_conflict(OnConflict::column(Column::Key).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    let stored = Entity::find_by_id(SECRET_KEY_SETTING)
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("secret key setting vanished after insert"))?;
    tracing::info!(
        "generated SWITCHBOARD_SECRET_KEY and stored it in the database (set the variable to manage it yourself)"
    );
    Ok(stored.value)
}

/// Begins a transaction that will write. On SQLite it takes the write lock up front
/// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes fails with
/// `SQLITE_BUSY_SNAPSHOT` when another connection committed in between, and the busy timeout
/// cannot help it. PostgreSQL ignores the mode.
pub async fn begin_write(
    db: &DatabaseConnection,
) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    use sea_orm::TransactionTrait;
    db.begin_with_options(sea_orm::TransactionOptions {
        isolation_level: None,
        access_mode: None,
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
    })
    .await
}
