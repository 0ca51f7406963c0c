//! The live delivery log across instances.
//!
//! On SQLite (one process) logged attempts go straight to the in-process broadcast. On
//! PostgreSQL every instance's recorder announces its attempts with `NOTIFY` inside the
//! transaction that logs them (so only committed attempts are announced), and every instance
//! LISTENs and loads the announced attempts into its own broadcast, only while it has live
//! subscribers. A subscriber therefore sees attempts made by any instance; no new
//! infrastructure is involved.
//!
//! Announcing costs every committing recorder PostgreSQL's global notification lock, so it is
//! done only while someone watches: an instance with live subscribers holds a shared advisory
//! lock ([`WATCH_LOCK`]) on its listener connection (released with the connection, so a crashed
//! instance stops counting at once) and says so on [`WATCH`]; every instance checks the lock
//! table once a second and sets [`Engine::announcing`](super::Engine) accordingly.

use std::sync::Arc;

use entity::{delivery_attempt, enums::DeliveryStatus};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Statement};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::{Engine, LiveAttempt};

pub const CHANNEL: &str = "switchboard_attempts";
/// Instances without workers (`--role api`) NOTIFY this after committing events or asking for
/// a retry, so that workers elsewhere start at once instead of at their next idle poll.
pub const WAKE: &str = "switchboard_wake";
/// An instance NOTIFYs this when it starts holding [`WATCH_LOCK`], so that recorders elsewhere
/// start announcing at once rather than at their next check.
pub const WATCH: &str = "switchboard_watch";
/// The advisory lock (shared) held by every instance that has live subscribers ("SBLIVE").
pub const WATCH_LOCK: i64 = 0x5342_4C49_5645;
/// How often instances check whether anyone watches, and drop their lock when nobody here does.
const WATCH_CHECK: std::time::Duration = std::time::Duration::from_secs(1);
/// NOTIFY payloads must stay under 8000 bytes; this many entries keep well below.
const PER_NOTIFY: usize = 100;

/// One announced attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Announced {
    /// Delivery id.
    pub d: i64,
    /// Attempt number.
    pub n: i32,
    /// Event name.
    pub e: String,
    /// Delivery status after the attempt.
    pub s: DeliveryStatus,
}

/// Announces attempts inside the recording transaction (PostgreSQL only).
pub async fn announce<C: ConnectionTrait>(txn: &C, items: &[Announced]) -> anyhow::Result<()> {
    for payload in payloads(items)? {
        txn.execute_raw(Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), payload.into()],
        ))
        .await?;
    }
    Ok(())
}

/// The `NOTIFY` payloads on [`CHANNEL`] that announce `items`.
pub fn payloads(items: &[Announced]) -> anyhow::Result<Vec<String>> {
    items
        .chunks(PER_NOTIFY)
        .map(|chunk| Ok(serde_json::to_string(chunk)?))
        .collect()
}

/// Listens for announced attempts and republishes them to this instance's subscribers.
pub async fn listen_loop(engine: Arc<Engine>, shutdown: CancellationToken) {
    let pool = engine.db.get_postgres_connection_pool().clone();
    loop {
        let mut listener = match sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "live log: cannot connect a listener; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                }
            }
        };
        if let Err(e) = listener.listen_all([CHANNEL, WAKE, WATCH]).await {
            tracing::warn!(error = %e, "live log: LISTEN failed; retrying");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        }
        // A new connection holds no lock.
        let mut holding = false;
        let mut check = tokio::time::interval(WATCH_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let n = tokio::select! {
                _ = shutdown.cancelled() => return,
                n = listener.recv() => n,
                _ = check.tick() => {
                    if let Err(e) = watch(&engine, &mut listener, &mut holding, true).await {
                        tracing::warn!(error = %e, "live log: checking for watchers failed");
                    }
                    continue;
                }
                _ = engine.watchers_changed.notified() => {
                    if let Err(e) = watch(&engine, &mut listener, &mut holding, false).await {
                        tracing::warn!(error = %e, "live log: announcing a watcher failed");
                    }
                    continue;
                }
            };
            let n = match n {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "live log: listener lost; reconnecting");
                    break;
                }
            };
            if n.channel() == WAKE {
                super::events_committed();
                engine.wake();
                continue;
            }
            if n.channel() == WATCH {
                engine.set_announcing(true);
                continue;
            }
            if engine.live.receiver_count() == 0 {
                continue;
            }
            let Ok(items) = serde_json::from_str::<Vec<Announced>>(n.payload()) else {
                tracing::warn!("live log: unreadable notification skipped");
                continue;
            };
            if let Err(e) = publish(&engine, items).await {
                tracing::warn!(error = %e, "live log: loading announced attempts failed");
            }
        }
    }
}

/// Takes or drops this instance's [`WATCH_LOCK`] as its live subscribers come and go, and
/// (with `check`) sets whether anyone anywhere watches.
async fn watch(
    engine: &Engine,
    listener: &mut sea_orm::sqlx::postgres::PgListener,
    holding: &mut bool,
    check: bool,
) -> anyhow::Result<()> {
    use sea_orm::sqlx;
    let watched_here = engine.live.receiver_count() > 0;
    if watched_here && !*holding {
        sqlx::query("SELECT pg_advisory_lock_shared($1)")
            .bind(WATCH_LOCK)
            .execute(&mut *listener)
            .await?;
        *holding = true;
        engine.set_announcing(true);
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(WATCH)
            .execute(&mut *listener)
            .await?;
        tracing::debug!("live log: watching; attempts are announced");
    } else if !watched_here && *holding {
        sqlx::query("SELECT pg_advisory_unlock_shared($1)")
            .bind(WATCH_LOCK)
            .execute(&mut *listener)
            .await?;
        *holding = false;
    }
    if check {
        // A bigint advisory key shows in pg_locks as (classid, objid) = (high, low), objsubid 1;
        // advisory locks are per database, so instances over other databases do not count.
        let (anyone,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' \
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
               AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1 AND granted)",
        )
        .bind(WATCH_LOCK >> 32)
        .bind(WATCH_LOCK & 0xFFFF_FFFF)
        .fetch_one(&mut *listener)
        .await?;
        engine.set_announcing(anyone || *holding);
    }
    Ok(())
}

async fn publish(engine: &Engine, items: Vec<Announced>) -> anyhow::Result<()> {
    let ids: Vec<i64> = items.iter().map(|i| i.d).collect();
    let rows = delivery_attempt::Entity::find()
        .filter(delivery_attempt::Column::DeliveryId.is_in(ids))
        .order_by_asc(delivery_attempt::Column::Id)
        .all(&engine.db)
        .await?;
    for item in items {
        if let Some(a) = rows
            .iter()
            .find(|a| a.delivery_id == item.d && a.attempt_number == item.n)
        {
            let _ = engine.live.send(LiveAttempt {
                attempt: a.clone(),
                event_type: item.e,
                status: item.s,
            });
        }
    }
    Ok(())
}

/// On an instance without workers: turns local commits and wakes into one `NOTIFY` each
/// (bursts coalesce while one is being sent).
pub async fn forward_wakes(engine: Arc<Engine>, shutdown: CancellationToken) {
    loop {
        let commit = super::next_commit();
        let wake = engine.next_wake();
        tokio::pin!(commit, wake);
        commit.as_mut().enable();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = &mut commit => {},
            _ = &mut wake => {},
        }
        let sent = engine
            .db
            .execute_raw(Statement::from_sql_and_values(
                sea_orm::DatabaseBackend::Postgres,
                "SELECT pg_notify($1, '')",
                [WAKE.into()],
            ))
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "cannot wake the workers; they will poll");
        }
    }
}
