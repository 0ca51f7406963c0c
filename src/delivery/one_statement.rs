//! A new message on PostgreSQL in one statement.
//!
//! The usual path of a message is a transaction of five round trips (BEGIN, insert the
//! message, update the conversation, write the event and read the subscriptions, insert the
//! deliveries, COMMIT) after the read of its context. Here the context read also returns the
//! ids the message and its event will have, the conversation row's version (`xmin`) and the
//! account's subscriptions ([`crate::events::outbox::message_context`]), so the payloads can be
//! rendered before anything is written; then one statement, atomic on its own, writes it all:
//!
//! - the conversation update, only if the row is still the version read (so the conversation
//!   in the payloads is exactly the one stored; if it changed, nothing is written and the
//!   caller takes the usual path);
//! - the message, the event and one delivery per matching subscription, each only if the
//!   update happened;
//! - the subscriptions locked `FOR KEY SHARE` (as the deliveries' foreign keys would), so one
//!   deleted meanwhile is skipped or waits, and never fails the message;
//! - each delivery claimed for this instance ([`Claimed`]) where its subscription is enabled,
//!   has no unclaimed pending delivery (probed in the same statement, on
//!   `idx_deliveries_unclaimed`) and is not crowded here.
//!
//! Two round trips instead of seven.

use std::{collections::HashSet, sync::Arc};

use chrono::{DateTime, Utc};
use entity::{conversation, delivery, event, message, webhook_subscription as ws};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, EntityName, EntityTrait, IdenStatic, Iterable, ModelTrait,
    Statement, Value,
};

use super::{Claimed, Engine, deliveries_for, queue, with_event_names};
use crate::events::{
    data::{Event, EventData},
    outbox::{self, MessageIds, Route},
};

/// How many turns an engine has (see [`Engine::conversation_turn`]).
pub(super) const TURNS: usize = 256;

/// More deliveries than this for one message go through the transaction, which inserts them
/// in chunks (one statement has at most 65,535 parameters; each delivery takes five).
const MAX_DELIVERIES: usize = 1_000;

impl Engine {
    /// Waits for this instance's turn to write a message to conversation `id`, held until
    /// dropped. Concurrent messages to one conversation would otherwise read the same version
    /// and all but one fall back to the transaction (measured in an overloaded run: 40 % of
    /// them, and the extra work fed the overload). Turns are striped: conversations whose ids
    /// are equal modulo 256 share one.
    pub async fn conversation_turn(&self, id: i64) -> tokio::sync::MutexGuard<'_, ()> {
        self.turns[id.rem_euclid(TURNS as i64) as usize]
            .lock()
            .await
    }
}

/// Writes `msg` (its id from `ids`) with its conversation update, `message_created` event and
/// deliveries in one statement, then hands the deliveries it claimed to this instance's queues.
/// `data` is the event's context without the conversation and message. Returns the
/// conversation as updated, or `None` when nothing was written, for the caller to use the
/// transaction: the conversation is no longer the version `ids` was read with, or the message
/// has more deliveries than one statement takes.
pub async fn write_message(
    engine: &Arc<Engine>,
    conv: &conversation::Model,
    mut data: EventData,
    msg: &message::Model,
    ids: MessageIds,
    claim: Option<Claimed>,
) -> Result<Option<conversation::Model>, crate::error::Error> {
    let now = msg.created_at;
    let incoming = msg.message_type == entity::enums::MessageType::Incoming;
    let after = conversation::Model {
        last_message_id: Some(msg.id),
        last_message_at: Some(now),
        updated_at: now,
        unread_count: conv.unread_count + i32::from(incoming),
        ..conv.clone()
    };
    outbox::put_new_message(&mut data, &after, msg);
    let payload =
        serde_json::to_value(&data).map_err(|e| crate::error::Error::Internal(e.into()))?;
    let route = Route::of(&data);
    let ev_row = event::Model {
        id: ids.event_id,
        account_id: conv.account_id,
        event_type: "message_created".into(),
        channel_id: route.channel_id,
        inbox_id: route.inbox_id,
        payload,
        dispatched_at: Some(now),
        partner_id: None,
        bot_connection_id: None,
        created_at: now,
        updated_at: now,
    };
    let subs: Vec<(ws::Model, HashSet<String>)> = ids
        .subscriptions
        .into_iter()
        .map(with_event_names)
        .collect();
    let ev = Event {
        id: ev_row.id,
        event_type: ev_row.event_type.clone(),
        created_at: now,
        data,
    };
    let rows = deliveries_for(&ev_row, &ev, &subs, now);
    if rows.len() > MAX_DELIVERIES {
        return Ok(None);
    }
    // Each delivery with its subscription (one delivery per subscription).
    let rows: Vec<(delivery::Model, ws::Model)> = rows
        .into_iter()
        .filter_map(|d| {
            let sub = subs.iter().find(|(s, _)| s.id == d.subscription_id)?;
            Some((d, sub.0.clone()))
        })
        .collect();

    let mut values: Vec<Value> = Vec::with_capacity(40 + rows.len() * 4);
    let mut bind = |v: Value| {
        values.push(v);
        format!("${}", values.len())
    };
    let mut sql = format!(
        "WITH c AS (UPDATE conversations SET last_message_id = {}, last_message_at = {t}, \
           updated_at = {t}, unread_count = unread_count + {} \
           WHERE id = {} AND xmin::text = {} RETURNING id)",
        bind(msg.id.into()),
        bind(i32::from(incoming).into()),
        bind(conv.id.into()),
        bind(ids.version.into()),
        t = bind(now.into()),
    );
    sql.push_str(", m AS (");
    sql.push_str(&insert_from_c(msg, &mut bind));
    sql.push_str("), e AS (");
    sql.push_str(&insert_from_c(&ev_row, &mut bind));
    sql.push(')');
    if rows.is_empty() {
        sql.push_str(
            " SELECT NULL::bigint AS id, NULL::bigint AS subscription_id, \
             NULL::timestamptz AS claimed_until FROM c",
        );
    } else {
        let lease = claim.as_ref().map(|c| c.lease_until);
        let free = if lease.is_some() {
            "w.state = 'ENABLED' AND NOT EXISTS (SELECT 1 FROM deliveries b \
               WHERE b.subscription_id = w.id AND b.status = 'PENDING' AND b.claimed_until IS NULL)"
        } else {
            "false"
        };
        let sub_ids: Vec<String> = rows
            .iter()
            .map(|(d, _)| bind(d.subscription_id.into()))
            .collect();
        // Per delivery: whether its subscription may be claimed here (its backlog aside), and
        // the subscription as read. One changed since (its URL, secret, state…) is not claimed
        // here: the dispatcher sends its delivery with the subscription as it is then.
        let tuples: Vec<String> = rows
            .iter()
            .map(|(d, sub)| {
                let takes = claim.as_ref().is_some_and(|c| c.takes(sub, false));
                format!(
                    "({}::bigint, {}::text, {}::text, {}::boolean, {}::timestamptz)",
                    bind(d.subscription_id.into()),
                    bind(d.webhook_id.clone().into()),
                    bind(d.payload.clone().into()),
                    bind(takes.into()),
                    bind(sub.updated_at.into()),
                )
            })
            .collect();
        let d0 = &rows[0].0;
        sql.push_str(&format!(
            ", s AS (SELECT w.id, w.updated_at, {free} AS free FROM webhook_subscriptions w \
               WHERE w.id IN ({}) AND w.state <> 'DISABLED' FOR KEY SHARE OF w), \
             d AS (INSERT INTO deliveries (account_id, event_id, subscription_id, event_type, \
               webhook_id, status, attempt_count, next_attempt_at, claimed_until, payload, \
               created_at, updated_at) \
               SELECT {}, {}, v.sid, {}, v.wid, {}, 0, {now}, \
                 CASE WHEN v.take AND s.free AND s.updated_at = v.read_at THEN {}::timestamptz END, \
                 v.body, {now}, {now} \
               FROM c CROSS JOIN (VALUES {}) AS v(sid, wid, body, take, read_at) \
               JOIN s ON s.id = v.sid \
               RETURNING id, subscription_id, claimed_until) \
             SELECT d.id, d.subscription_id, d.claimed_until FROM c LEFT JOIN d ON true",
            sub_ids.join(", "),
            bind(d0.account_id.into()),
            bind(d0.event_id.into()),
            bind(d0.event_type.clone().into()),
            bind(d0.status.as_str().into()),
            bind(lease.into()),
            tuples.join(", "),
            now = bind(now.into()),
        ));
    }
    let stmt = Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, values);

    let engine = engine.clone();
    queue::detached(async move {
        let written = engine.db.query_all_raw(stmt).await?;
        if written.is_empty() {
            return Ok(None); // the conversation changed: nothing was written
        }
        let mut claim = claim;
        for r in &written {
            let Some(id) = r.try_get::<Option<i64>>("", "id")? else {
                continue;
            };
            let sub_id: i64 = r.try_get("", "subscription_id")?;
            let until: Option<DateTime<Utc>> = r.try_get("", "claimed_until")?;
            let Some(c) = claim.as_mut() else { continue };
            match (
                until,
                rows.iter().find(|(d, _)| d.subscription_id == sub_id),
            ) {
                (Some(until), Some((d, sub))) => {
                    c.took(
                        sub,
                        delivery::Model {
                            id,
                            claimed_until: Some(until),
                            ..d.clone()
                        },
                    );
                }
                _ => c.unclaimed += 1,
            }
        }
        queue::committed(&engine, claim);
        Ok(Some(after))
    })
    .await
    .map_err(Into::into)
}

/// `INSERT INTO <table> (<columns>) SELECT <values> FROM c`: every column of the model, each
/// value bound by `bind`.
fn insert_from_c<M: ModelTrait>(model: &M, bind: &mut impl FnMut(Value) -> String) -> String {
    let mut cols = Vec::new();
    let mut vals = Vec::new();
    for col in <M::Entity as EntityTrait>::Column::iter() {
        cols.push(format!("\"{}\"", col.as_str()));
        vals.push(bind(model.get(col)));
    }
    format!(
        "INSERT INTO {} ({}) SELECT {} FROM c",
        <M::Entity as Default>::default().table_name(),
        cols.join(", "),
        vals.join(", ")
    )
}
