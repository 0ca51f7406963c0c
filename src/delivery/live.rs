//! The live delivery log across instances.
//!
//! On SQLite (one process) logged attempts go straight to the in-process broadcast. On
//! PostgreSQL every instance's recorder announces its attempts with `NOTIFY` inside the
//! transaction that logs them (so only committed attempts are announced), and every instance
//! LISTENs and loads the announced attempts into its own broadcast, only while it has live
//! subscribers. A subscriber therefore sees attempts made by any instance; no new
//! infrastructure is involved.

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
    for chunk in items.chunks(PER_NOTIFY) {
        let payload = serde_json::to_string(chunk)?;
        txn.execute_raw(Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), payload.into()],
        ))
        .await?;
    }
    Ok(())
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
        if let Err(e) = listener.listen_all([CHANNEL, WAKE]).await {
            tracing::warn!(error = %e, "live log: LISTEN failed; retrying");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        }
        loop {
            let n = tokio::select! {
                _ = shutdown.cancelled() => return,
                n = listener.recv() => n,
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
