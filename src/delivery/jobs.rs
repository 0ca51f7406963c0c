//! Retries as apalis jobs, on the application's own database (apalis-postgres in schema
//! `apalis`, or apalis-sqlite tables `Jobs`/`Workers` in the same SQLite file).
//!
//! Each retry is one job scheduled at the delivery's stored `next_attempt_at` with
//! `max_attempts(1)`: apalis' own retry loop re-runs failed jobs at once, so the backoff lives in
//! our schedule instead. The handler never returns an error and catches panics itself (a panic
//! caught by apalis' layer would leave the job `Running`). Worker names are unique per process,
//! and polling uses a `tokio::time::interval` strategy (apalis 1.0's interval strategy can stop
//! waking); on PostgreSQL, LISTEN/NOTIFY also wakes the worker. Each retry runs in a task of its
//! own, so a worker restart (which drops the worker's futures) cannot cut an attempt off
//! between sending it and recording it.

use std::{
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use apalis::prelude::*;
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use chrono::{DateTime, Utc};
use sea_orm::{DatabaseBackend, DatabaseConnection};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::Engine;
use crate::config::Config;

/// Pinned queue name (the default would be the Rust type path).
pub const QUEUE: &str = "switchboard_delivery_retry";

/// One retry: attempt delivery `delivery_id` again, if it still has `attempt_count` attempts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetryJob {
    pub delivery_id: i64,
    pub attempt_count: i32,
    #[serde(default = "Utc::now")]
    pub run_at: DateTime<Utc>,
}

/// A poll strategy that always re-arms its timer.
pub struct TokioInterval(tokio::time::Interval);

impl TokioInterval {
    pub fn new(period: Duration) -> Self {
        let mut i = tokio::time::interval(period);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self(i)
    }
}

impl PollStrategy for TokioInterval {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut fired = false;
        while self.0.poll_tick(cx).is_ready() {
            fired = true;
        }
        if fired {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
}

#[derive(Clone)]
pub enum RetryQueue {
    Postgres(sea_orm::sqlx::PgPool),
    Sqlite {
        /// The worker's own small pool (see [`RetryQueue::connect`]).
        worker: sea_orm::sqlx::SqlitePool,
        /// The application's pool, for scheduling and pruning: its writers wait longer for
        /// the write lock than the worker's polls (a failed poll only restarts the worker).
        app: sea_orm::sqlx::SqlitePool,
    },
}

fn pg_storage(pool: &sea_orm::sqlx::PgPool) -> PostgresStorage<RetryJob> {
    PostgresStorage::new(pool).with_config(
        apalis_postgres::Config::default()
            .queue(QUEUE)
            .batch_size(100)
            .heartbeat_interval(Duration::from_secs(10))
            .missed_heartbeats(3),
    )
}

fn sqlite_storage(pool: &sea_orm::sqlx::SqlitePool) -> SqliteStorage<RetryJob> {
    SqliteStorage::new(pool).with_config(
        apalis_sqlite::Config::default()
            .queue(QUEUE)
            .batch_size(100)
            .heartbeat_interval(Duration::from_secs(10))
            .missed_heartbeats(3),
    )
}

impl RetryQueue {
    /// Sets up apalis' tables. PostgreSQL shares the application's pool; on SQLite the worker
    /// gets a small pool of its own on the same file, because apalis' setup sets
    /// `synchronous=OFF` on whichever connection runs it and the application's connections must
    /// keep `NORMAL`.
    pub async fn connect(db: &DatabaseConnection, config: &Config) -> anyhow::Result<Self> {
        match db.get_database_backend() {
            DatabaseBackend::Postgres => {
                let pool = db.get_postgres_connection_pool().clone();
                PostgresStorage::setup(&pool)
                    .await
                    .map_err(|e| anyhow::anyhow!("apalis setup on PostgreSQL failed: {e}"))?;
                Ok(Self::Postgres(pool))
            }
            _ => {
                let opts: sea_orm::sqlx::sqlite::SqliteConnectOptions =
                    config.database_url.parse()?;
                let pool = sea_orm::sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(2)
                    .connect_with(opts.busy_timeout(Duration::from_secs(5)))
                    .await?;
                SqliteStorage::setup(&pool)
                    .await
                    .map_err(|e| anyhow::anyhow!("apalis setup on SQLite failed: {e}"))?;
                Ok(Self::Sqlite {
                    worker: pool,
                    app: db.get_sqlite_connection_pool().clone(),
                })
            }
        }
    }

    /// Schedules retry jobs (one multi-row insert on PostgreSQL).
    pub async fn schedule(&self, jobs: &[RetryJob]) -> anyhow::Result<()> {
        let tasks = jobs
            .iter()
            .map(|j| {
                let delay = (j.run_at - Utc::now()).to_std().unwrap_or_default();
                Ok(TaskBuilder::new(serde_json::to_vec(j)?)
                    .max_attempts(1)
                    .run_after(delay)
                    .build())
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        match self {
            RetryQueue::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                apalis_postgres::queries::push_tasks(&mut *conn, QUEUE, tasks)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            RetryQueue::Sqlite { app, .. } => {
                let mut tx = app.begin_with("BEGIN IMMEDIATE").await?;
                apalis_sqlite::queries::push_tasks(&mut *tx, QUEUE, &tasks)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Deletes finished job rows older than a day (apalis keeps them forever).
    pub async fn prune(&self) {
        let r = match self {
            RetryQueue::Postgres(pool) => sea_orm::sqlx::query(
                "DELETE FROM apalis.jobs WHERE job_type = $1 AND status IN ('Done', 'Killed', 'Failed') AND done_at < now() - interval '1 day'",
            )
            .bind(QUEUE)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
            RetryQueue::Sqlite { app, .. } => sea_orm::sqlx::query(
                "DELETE FROM Jobs WHERE job_type = ?1 AND status IN ('Done', 'Killed', 'Failed') AND done_at < unixepoch() - 86400",
            )
            .bind(QUEUE)
            .execute(app)
            .await
            .map(|r| r.rows_affected()),
        };
        match r {
            Ok(n) if n > 0 => tracing::info!(deleted = n, "pruned finished retry jobs"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning retry jobs failed"),
        }
    }
}

async fn handle(job: RetryJob, engine: Data<Arc<Engine>>) -> Result<(), BoxDynError> {
    // A task of its own: when a backend error makes apalis restart the worker, it drops the
    // worker's in-flight futures, and an attempt already sent must still be recorded (else the
    // receiver sees a request the attempt log lacks, and the delivery is sent again once
    // overdue). A panic ends only this task.
    let engine: Arc<Engine> = (*engine).clone();
    let (delivery_id, attempt_count) = (job.delivery_id, job.attempt_count);
    let run =
        tokio::spawn(async move { super::run_retry(&engine, delivery_id, attempt_count).await })
            .await;
    match run {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(delivery_id, error = %e, "retry failed; the overdue sweep will take it")
        }
        Err(_) => tracing::error!(
            delivery_id,
            "retry panicked; the overdue sweep will take it"
        ),
    }
    Ok(())
}

/// Runs the retry worker until `shutdown`, restarting it (under a new name) after backend errors.
pub fn spawn_worker(
    engine: Arc<Engine>,
    config: &Config,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let poll = config.retry_poll_interval;
    let instance = format!("{}-{}", std::process::id(), crate::crypto::random_token(4));
    tokio::spawn(async move {
        let queue = engine.retries.clone();
        let name = move |restarts: usize| format!("retry-{instance}-{restarts}");
        let result = match queue {
            RetryQueue::Postgres(pool) => {
                let engine = engine.clone();
                Monitor::new()
                    .register(move |restarts| {
                        WorkerBuilder::new(name(restarts))
                            .backend(
                                pg_storage(&pool)
                                    .with_pubsub()
                                    .poll_with_strategy(TokioInterval::new(poll)),
                            )
                            .data(engine.clone())
                            .concurrency(64)
                            .build(handle)
                    })
                    .should_restart(|_, _| true)
                    .shutdown_timeout(Duration::from_secs(20))
                    .run_with_signal(async move {
                        shutdown.cancelled().await;
                        Ok(())
                    })
                    .await
            }
            RetryQueue::Sqlite { worker: pool, .. } => {
                let engine = engine.clone();
                Monitor::new()
                    .register(move |restarts| {
                        WorkerBuilder::new(name(restarts))
                            .backend(
                                sqlite_storage(&pool).poll_with_strategy(TokioInterval::new(poll)),
                            )
                            .data(engine.clone())
                            .concurrency(64)
                            .build(handle)
                    })
                    .should_restart(|_, _| true)
                    .shutdown_timeout(Duration::from_secs(20))
                    .run_with_signal(async move {
                        shutdown.cancelled().await;
                        Ok(())
                    })
                    .await
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "retry worker stopped");
        }
    })
}
