//! The delivery engine.
//!
//! 1. **Fan-out**: an event written to the outbox becomes, in the same transaction, one
//!    `deliveries` row per matching destination (event set, channel/inbox scope, a format that
//!    has a payload for the event) with the rendered body ([`record_and_fan_out`]). A slow sweep
//!    fans out any event left undispatched ([`fan_out_batch`]).
//! 2. **First attempts**: a new message's transaction claims its deliveries for this instance
//!    as it writes them (a lease in `claimed_until`) and hands them to this instance's send
//!    queues after commit ([`Claimed`], [`queue`]). Anything else due is claimed by a
//!    dispatcher woken on commit (`FOR UPDATE SKIP LOCKED` on PostgreSQL). Either way the
//!    deliveries of a subscription start in order, up to `concurrency` at once; many
//!    subscriptions go in parallel.
//! 3. **Retries**: a failed attempt stores `next_attempt_at` and becomes an apalis job scheduled
//!    for that time ([`jobs`]). Deliveries whose retry job went missing are picked up by the
//!    dispatcher once overdue by `overdue_grace`, so the stored schedule, not memory, is the truth.
//! 4. **Recording**: every attempt (request and response) is written by one recorder task in
//!    batched transactions, which also moves the delivery and its subscription on.
//!
//! A crash loses nothing: an event and its deliveries commit together; a claimed delivery
//! whose lease runs out is claimed again (its attempt may be sent twice, with the same
//! `webhook-id`).

pub mod http;
pub mod jobs;
pub mod live;
mod one_statement;
mod pg;
mod queue;
pub mod schedule;
pub mod signer;
pub mod ssrf;

pub use one_statement::write_message;
pub use queue::{Claimed, commit_and_hand_over};

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use entity::{
    delivery, delivery_attempt,
    enums::{DeliveryStatus, SubscriptionState},
    event, webhook_subscription as ws,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    EntityTrait, Iterable, QueryFilter, QueryOrder, QuerySelect, Set, Statement,
    sea_query::{Expr, ExprTrait, LockBehavior, LockType},
};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use self::{
    http::{Exchange, HttpSettings},
    schedule::{Observed, Outcome, Schedule},
    ssrf::Allow,
};
use crate::{
    config::Config,
    crypto::Keys,
    events::{
        data::{Event, EventData},
        formats,
    },
};

/// Wakes every dispatcher in this process after a transaction that recorded events commits.
static EVENTS_COMMITTED: Notify = Notify::const_new();

/// Call after committing a transaction that recorded events.
pub fn events_committed() {
    EVENTS_COMMITTED.notify_waiters();
}

/// Resolves at the next [`events_committed`] after it is first polled.
pub(crate) fn next_commit() -> tokio::sync::futures::Notified<'static> {
    EVENTS_COMMITTED.notified()
}

impl Engine {
    /// The next local wake of the dispatcher (an operator's retry, a resume…).
    pub(crate) fn next_wake(&self) -> tokio::sync::futures::Notified<'_> {
        self.send_wake.notified()
    }
}

/// Everything one attempt produced, on its way to the recorder.
#[derive(Debug)]
pub struct AttemptRecord {
    pub delivery: delivery::Model,
    pub attempt_number: i32,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    pub exchange: Exchange,
    pub outcome: Outcome,
    pub at: DateTime<Utc>,
    /// For a bot connection's call (seed 004): the parsed answer or why there is none.
    pub bot: Option<(i64, crate::bots::settle::BotResult)>,
}

/// A logged attempt as live subscribers see it (GraphQL `deliveryAttempts`).
#[derive(Debug, Clone)]
pub struct LiveAttempt {
    pub attempt: delivery_attempt::Model,
    pub event_type: String,
    /// The delivery's status after this attempt.
    pub status: DeliveryStatus,
}

/// Settings of the engine, from [`Config`].
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub schedule: Schedule,
    pub http: HttpSettings,
    pub batch: u64,
    pub lease: Duration,
    pub overdue_grace: Duration,
    pub disable_after: Duration,
    pub idle_poll: Duration,
    /// Attempts in flight at once per subscription.
    pub concurrency: usize,
}

impl EngineSettings {
    pub fn from_config(c: &Config) -> Self {
        Self {
            schedule: Schedule {
                base: c.retry_base,
                max_retries: c.retry_max,
            },
            http: HttpSettings {
                connect_timeout: c.delivery_connect_timeout,
                timeout: c.delivery_timeout,
                max_response_bytes: c.max_response_bytes,
            },
            batch: c.claim_batch.clamp(1, 10_000),
            // Longer than any attempt can take; a crashed worker's claims are retaken after it.
            lease: c.delivery_timeout + Duration::from_secs(10),
            overdue_grace: c.retry_overdue_grace,
            disable_after: c.disable_failing_after,
            idle_poll: Duration::from_millis(500),
            concurrency: c.delivery_concurrency.clamp(1, 256),
        }
    }
}

pub struct Engine {
    pub db: DatabaseConnection,
    keys: Keys,
    pub settings: EngineSettings,
    pub allow: Arc<Allow>,
    client: reqwest::Client,
    send_wake: Notify,
    /// Whether this instance sends deliveries (its role runs the workers).
    delivers: bool,
    /// This instance's send queues, by subscription (see [`queue`]).
    inflight: Mutex<HashMap<i64, queue::Slot>>,
    /// How fast each subscription's attempts have been ending here (see [`queue::Pace`]).
    paces: Mutex<HashMap<i64, queue::Pace>>,
    /// Turns to write a message to a conversation ([`Engine::conversation_turn`]).
    turns: Box<[tokio::sync::Mutex<()>]>,
    recorder: mpsc::Sender<AttemptRecord>,
    pub retries: jobs::RetryQueue,
    pub live: tokio::sync::broadcast::Sender<LiveAttempt>,
    /// Cancelled when the instance shuts down: no new attempt starts after it.
    stopping: CancellationToken,
    /// PostgreSQL: whether some instance has live subscribers, so attempts must be announced
    /// (see [`live`]).
    announcing: std::sync::atomic::AtomicBool,
    /// Signalled when a live subscriber arrives here (see [`live`]).
    pub watchers_changed: Notify,
    /// Retries claimed here whose attempt has not reached the recorder yet.
    retries_under_way: std::sync::atomic::AtomicUsize,
}

impl Engine {
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn is_postgres(&self) -> bool {
        self.db.get_database_backend() == DatabaseBackend::Postgres
    }

    /// Whether logged attempts are announced to other instances' live subscribers.
    pub fn announcing(&self) -> bool {
        self.announcing.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn set_announcing(&self, on: bool) {
        self.announcing
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Wakes the dispatcher (after fan-out or an operator's retry).
    pub fn wake(&self) {
        self.send_wake.notify_one();
    }

    /// When a lease taken now runs out, to the microsecond (as the database stores it, so a
    /// hand-back can match it exactly); `None` if the configured lease is out of range.
    pub(crate) fn lease_until(&self) -> Option<DateTime<Utc>> {
        use chrono::DurationRound;
        chrono::Duration::from_std(self.settings.lease)
            .ok()
            .and_then(|lease| Utc::now().checked_add_signed(lease))?
            .duration_trunc(chrono::Duration::microseconds(1))
            .ok()
    }
}

/// Starts fan-out, dispatcher, recorder, retry worker and housekeeping; returns their handles.
pub async fn start(
    db: DatabaseConnection,
    keys: Keys,
    config: &Config,
    allow: Arc<Allow>,
    shutdown: CancellationToken,
) -> anyhow::Result<(Arc<Engine>, Vec<tokio::task::JoinHandle<()>>)> {
    let settings = EngineSettings::from_config(config);
    let client = http::client(allow.clone(), &settings.http);
    let (tx, rx) = mpsc::channel(4096);
    let retries = jobs::RetryQueue::connect(&db, config).await?;
    let (live, _) = tokio::sync::broadcast::channel(1024);
    let engine = Arc::new(Engine {
        db,
        keys,
        settings,
        allow,
        client,
        send_wake: Notify::new(),
        delivers: config.role.runs_workers(),
        inflight: Mutex::new(HashMap::new()),
        paces: Mutex::new(HashMap::new()),
        turns: (0..one_statement::TURNS)
            .map(|_| tokio::sync::Mutex::new(()))
            .collect(),
        recorder: tx,
        retries,
        live,
        stopping: shutdown.clone(),
        announcing: std::sync::atomic::AtomicBool::new(false),
        watchers_changed: Notify::new(),
        retries_under_way: std::sync::atomic::AtomicUsize::new(0),
    });
    let mut handles = Vec::new();
    if engine.is_postgres() {
        handles.push(tokio::spawn(live::listen_loop(
            engine.clone(),
            shutdown.clone(),
        )));
    }
    if config.role.runs_workers() {
        handles.extend([
            tokio::spawn(fan_out_loop(engine.clone(), shutdown.clone())),
            tokio::spawn(dispatch_loop(engine.clone(), shutdown.clone())),
            tokio::spawn(record_loop(engine.clone(), rx, shutdown.clone())),
            tokio::spawn(housekeeping_loop(
                engine.clone(),
                config.attempt_retention,
                shutdown.clone(),
            )),
        ]);
        handles.push(jobs::spawn_worker(engine.clone(), config, shutdown.clone()));
    } else {
        // No workers here: tell the workers of other instances at once.
        handles.push(tokio::spawn(live::forward_wakes(
            engine.clone(),
            shutdown.clone(),
        )));
    }
    Ok((engine, handles))
}

/// How often the sweep looks for events that were not fanned out when recorded.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

async fn fan_out_loop(engine: Arc<Engine>, shutdown: CancellationToken) {
    loop {
        loop {
            let started = Instant::now();
            match fan_out_batch(&engine, engine.settings.batch).await {
                Ok(0) => break,
                Ok(n) => {
                    tracing::debug!(
                        events = n,
                        ms = started.elapsed().as_secs_f64() * 1e3,
                        "fan-out batch"
                    );
                    engine.wake()
                }
                Err(e) => {
                    tracing::error!(error = %e, "fan-out failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(SWEEP_EVERY) => {},
        }
    }
}

/// A subscription gets the events it names, in its scope, that happened after it was created.
fn subscription_matches(s: &ws::Model, names: &HashSet<String>, e: &event::Model) -> bool {
    s.created_at <= e.created_at
        && names.contains(&e.event_type)
        && s.channel_id.is_none_or(|c| Some(c) == e.channel_id)
        && s.inbox_id.is_none_or(|i| Some(i) == e.inbox_id)
        // A partner's webhook gets that partner's events only.
        && s.partner_id.is_none_or(|p| Some(p) == e.partner_id)
        // A bot call goes to its connection only, and only bot connections take bot calls.
        && s.bot_connection_id == e.bot_connection_id
}

/// The subscriptions of `accounts` that may receive events (not disabled), each with its
/// event list parsed, in id order.
async fn subscriptions_of<C: ConnectionTrait>(
    db: &C,
    accounts: impl IntoIterator<Item = i64>,
) -> Result<Vec<(ws::Model, HashSet<String>)>, sea_orm::DbErr> {
    let subs = ws::Entity::find()
        .filter(ws::Column::AccountId.is_in(accounts))
        .filter(ws::Column::State.ne(SubscriptionState::Disabled))
        .order_by_asc(ws::Column::Id)
        .all(db)
        .await?;
    Ok(subs.into_iter().map(with_event_names).collect())
}

/// A subscription with its event list parsed once.
fn with_event_names(s: ws::Model) -> (ws::Model, HashSet<String>) {
    let names = crate::services::webhook_subscriptions::events_of(&s)
        .into_iter()
        .collect();
    (s, names)
}

/// One delivery row per subscription in `subs` that matches the event `row` and whose format
/// (or bot connection) has a payload for it, the body rendered from `ev` (ids not assigned).
fn deliveries_for(
    row: &event::Model,
    ev: &Event,
    subs: &[(ws::Model, HashSet<String>)],
    now: DateTime<Utc>,
) -> Vec<delivery::Model> {
    let mut out = Vec::new();
    for (s, names) in subs {
        if s.account_id != row.account_id || !subscription_matches(s, names, row) {
            continue;
        }
        let body = match s.bot_connection_id {
            Some(conn) => crate::bots::context::render(ev, conn, &s.name),
            None => formats::render(s.format, ev),
        };
        let Some(body) = body else {
            continue;
        };
        out.push(delivery::Model {
            id: 0,
            account_id: row.account_id,
            event_id: row.id,
            subscription_id: s.id,
            event_type: row.event_type.clone(),
            webhook_id: format!("msg_{}", crate::crypto::random_token(16)),
            status: DeliveryStatus::Pending,
            attempt_count: 0,
            next_attempt_at: Some(now),
            claimed_until: None,
            payload: body.to_string(),
            last_response_status: None,
            last_error: None,
            completed_at: None,
            created_at: now,
            updated_at: now,
        });
    }
    out
}

fn new_row(d: delivery::Model) -> delivery::ActiveModel {
    let mut am: delivery::ActiveModel = d.into();
    am.id = sea_orm::ActiveValue::NotSet;
    am
}

async fn insert_deliveries<C: ConnectionTrait>(
    db: &C,
    rows: Vec<delivery::Model>,
) -> Result<(), sea_orm::DbErr> {
    for chunk in rows.chunks(200) {
        delivery::Entity::insert_many(chunk.iter().cloned().map(new_row))
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Inserts one event's deliveries (one per subscription), those `claim` takes with its lease,
/// and hands the taken ones, with their ids, to `claim`.
async fn insert_claiming<C: ConnectionTrait>(
    db: &C,
    mut rows: Vec<delivery::Model>,
    subs: &[(ws::Model, HashSet<String>)],
    backlog: &HashSet<i64>,
    claim: &mut Claimed,
) -> Result<(), sea_orm::DbErr> {
    use sea_orm::{QueryTrait, sea_query::Query};
    let by_id: HashMap<i64, &ws::Model> = subs.iter().map(|(s, _)| (s.id, s)).collect();
    let mut taken = 0;
    for d in &mut rows {
        if by_id
            .get(&d.subscription_id)
            .is_some_and(|s| claim.takes(s, backlog.contains(&s.id)))
        {
            d.claimed_until = Some(claim.lease_until);
            taken += 1;
        }
    }
    claim.unclaimed += rows.len() - taken;
    if taken == 0 {
        return insert_deliveries(db, rows).await;
    }
    let backend = db.get_database_backend();
    for chunk in rows.chunks(200) {
        let mut q = delivery::Entity::insert_many(chunk.iter().cloned().map(new_row)).into_query();
        q.returning(
            Query::returning().columns([delivery::Column::Id, delivery::Column::SubscriptionId]),
        );
        // One event has one delivery per subscription: the subscription names the row.
        let mut ids = HashMap::with_capacity(chunk.len());
        for r in db.query_all_raw(backend.build(&q)).await? {
            ids.insert(
                r.try_get::<i64>("", "subscription_id")?,
                r.try_get::<i64>("", "id")?,
            );
        }
        for d in chunk.iter().filter(|d| d.claimed_until.is_some()) {
            let id = ids
                .get(&d.subscription_id)
                .copied()
                .ok_or(sea_orm::DbErr::RecordNotInserted)?;
            claim.took(
                by_id[&d.subscription_id],
                delivery::Model { id, ..d.clone() },
            );
        }
    }
    Ok(())
}

/// An event on its way into the outbox (see [`record_and_fan_out`]).
pub struct NewEvent {
    pub account_id: i64,
    pub event_type: String,
    pub route: crate::events::outbox::Route,
    /// The snapshot as stored (`data` serialized).
    pub payload: serde_json::Value,
}

/// Writes an event to the outbox and fans it out, inside the caller's transaction: its
/// deliveries commit or roll back with the change that caused it. With a [`Claimed`], those it
/// takes are claimed for this instance and go to its send queues after commit; the dispatcher,
/// woken by [`events_committed`], sends the rest. This saves a transaction, a re-read and a
/// JSON decode per event against fanning out after commit. On PostgreSQL one statement inserts
/// the event and reads the account's subscriptions (each with whether it has unclaimed pending
/// deliveries), locking them `FOR KEY SHARE` (as the deliveries' foreign keys would): a
/// subscription deleted meanwhile is either gone from the read or waits for this transaction,
/// so its deletion never fails the change. Returns the number of deliveries created.
pub async fn record_and_fan_out<C: ConnectionTrait>(
    db: &C,
    new: NewEvent,
    data: EventData,
    claim: Option<&mut Claimed>,
) -> Result<usize, sea_orm::DbErr> {
    use chrono::DurationRound;
    use sea_orm::FromQueryResult;
    // Stored timestamps have microseconds; the payload is rendered from the same value.
    let now = Utc::now()
        .duration_trunc(chrono::Duration::microseconds(1))
        .unwrap_or_else(|_| Utc::now());
    let backend = db.get_database_backend();
    let route = new.route;
    // Subscriptions with unclaimed pending deliveries: a new one must not overtake them.
    let mut backlog = HashSet::new();
    let (row, subs) = if backend == DatabaseBackend::Postgres {
        // The text is the same for every event: built once, with the backlog probe (when
        // this transaction claims) and without.
        static SQL: [std::sync::OnceLock<String>; 2] = [const { std::sync::OnceLock::new() }; 2];
        let probe = claim.is_some();
        let sql = SQL[usize::from(probe)].get_or_init(|| format!(
            "WITH e AS (INSERT INTO events (account_id, event_type, channel_id, inbox_id, partner_id, \
               bot_connection_id, payload, dispatched_at, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8) RETURNING id) \
             SELECT e.id AS e_id, {}, s.backlog AS s_backlog FROM e LEFT JOIN (\
               SELECT w.*, {} AS backlog \
               FROM webhook_subscriptions w WHERE w.account_id = $1 AND w.state <> 'DISABLED' \
               FOR KEY SHARE OF w) s ON true ORDER BY s.id",
            crate::events::outbox::cols::<ws::Entity>("s"),
            if probe {
                "EXISTS (SELECT 1 FROM deliveries d WHERE d.subscription_id = w.id \
                   AND d.status = 'PENDING' AND d.claimed_until IS NULL)"
            } else {
                "false"
            },
        ));
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                sql.as_str(),
                [
                    new.account_id.into(),
                    new.event_type.clone().into(),
                    route.channel_id.into(),
                    route.inbox_id.into(),
                    route.partner_id.into(),
                    route.bot_connection_id.into(),
                    new.payload.into(),
                    now.into(),
                ],
            ))
            .await?;
        let first = rows
            .first()
            .ok_or_else(|| sea_orm::DbErr::RecordNotInserted)?;
        let id: i64 = first.try_get("", "e_id")?;
        let mut subs = Vec::with_capacity(rows.len());
        for r in &rows {
            // No subscription: one row whose `s_` columns are all NULL.
            if let Some(id) = r.try_get::<Option<i64>>("", "s_id")? {
                subs.push(with_event_names(ws::Model::from_query_result(r, "s_")?));
                if r.try_get::<bool>("", "s_backlog")? {
                    backlog.insert(id);
                }
            }
        }
        let row = event::Model {
            id,
            account_id: new.account_id,
            event_type: new.event_type,
            channel_id: route.channel_id,
            inbox_id: route.inbox_id,
            // Not needed past this point (the deliveries get rendered bodies).
            payload: serde_json::Value::Null,
            dispatched_at: Some(now),
            partner_id: route.partner_id,
            bot_connection_id: route.bot_connection_id,
            created_at: now,
            updated_at: now,
        };
        (row, subs)
    } else {
        let row = event::ActiveModel {
            account_id: Set(new.account_id),
            event_type: Set(new.event_type),
            channel_id: Set(route.channel_id),
            inbox_id: Set(route.inbox_id),
            partner_id: Set(route.partner_id),
            bot_connection_id: Set(route.bot_connection_id),
            payload: Set(new.payload),
            dispatched_at: Set(Some(now)),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await?;
        let subs = subscriptions_of(db, [row.account_id]).await?;
        if claim.is_some() && !subs.is_empty() {
            backlog = delivery::Entity::find()
                .select_only()
                .column(delivery::Column::SubscriptionId)
                .distinct()
                .filter(delivery::Column::SubscriptionId.is_in(subs.iter().map(|(s, _)| s.id)))
                .filter(delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
                .filter(delivery::Column::ClaimedUntil.is_null())
                .into_tuple::<i64>()
                .all(db)
                .await?
                .into_iter()
                .collect();
        }
        (row, subs)
    };
    if subs.is_empty() {
        return Ok(0);
    }
    let ev = Event {
        id: row.id,
        event_type: row.event_type.clone(),
        created_at: row.created_at,
        data,
    };
    let rows = deliveries_for(&row, &ev, &subs, Utc::now());
    let n = rows.len();
    match claim {
        Some(claim) => insert_claiming(db, rows, &subs, &backlog, claim).await?,
        None => insert_deliveries(db, rows).await?,
    }
    Ok(n)
}

/// Turns up to `limit` undispatched events into deliveries. Returns how many events it took.
///
/// Events are fanned out in the transaction that records them ([`record_and_fan_out`]); this
/// sweep only finds events recorded otherwise (by an older version, say).
pub async fn fan_out_batch(engine: &Engine, limit: u64) -> anyhow::Result<usize> {
    let txn = crate::db::begin_write(&engine.db).await?;
    let mut q = event::Entity::find()
        .filter(event::Column::DispatchedAt.is_null())
        .order_by_asc(event::Column::Id)
        .limit(limit);
    if engine.is_postgres() {
        q = q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let events = q.all(&txn).await?;
    if events.is_empty() {
        return Ok(0);
    }
    let accounts: HashSet<i64> = events.iter().map(|e| e.account_id).collect();
    let subs = subscriptions_of(&txn, accounts).await?;
    let now = Utc::now();
    let mut rows = Vec::new();
    for e in &events {
        let data: EventData = match serde_json::from_value(e.payload.clone()) {
            Ok(d) => d,
            Err(err) => {
                tracing::error!(event_id = e.id, error = %err, "unreadable event payload; skipped");
                continue;
            }
        };
        let ev = Event {
            id: e.id,
            event_type: e.event_type.clone(),
            created_at: e.created_at,
            data,
        };
        rows.extend(deliveries_for(e, &ev, &subs, now));
    }
    insert_deliveries(&txn, rows).await?;
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    event::Entity::update_many()
        .col_expr(event::Column::DispatchedAt, Expr::value(now))
        .filter(event::Column::Id.is_in(ids))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(events.len())
}

/// Claims due deliveries of enabled subscriptions, skipping subscriptions busy in this process;
/// returns them in id order with their subscriptions.
async fn claim_due(
    engine: &Engine,
    limit: u64,
    busy: &[i64],
) -> anyhow::Result<(Vec<delivery::Model>, Vec<ws::Model>)> {
    let now = Utc::now();
    let lease_until = engine.lease_until().context("lease out of range")?;
    let overdue = now - chrono::Duration::from_std(engine.settings.overdue_grace)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let (mut rows, subs) = if engine.is_postgres() {
        pg::claim_due(
            engine.db.get_postgres_connection_pool(),
            limit,
            &engine.claim_per_subscription(),
            busy,
            now,
            overdue,
            lease_until,
        )
        .await?
    } else {
        let busy_clause = if busy.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = busy.iter().map(i64::to_string).collect();
            format!(" AND d.subscription_id NOT IN ({})", list.join(","))
        };
        let stmt = Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            format!(
                "UPDATE deliveries SET claimed_until = ?, updated_at = ? WHERE id IN (\
                   SELECT d.id FROM deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id \
                   WHERE d.status IN ('PENDING', 'RETRYING') AND s.state = 'ENABLED' \
                     AND ((d.status = 'PENDING' AND d.next_attempt_at <= ?) OR (d.status = 'RETRYING' AND d.next_attempt_at <= ?)) \
                     AND (d.claimed_until IS NULL OR d.claimed_until < ?){busy_clause} \
                   ORDER BY d.id LIMIT ?) RETURNING *"
            ),
            [
                lease_until.into(),
                now.into(),
                now.into(),
                overdue.into(),
                now.into(),
                limit.into(),
            ],
        );
        // (SQLite's RETURNING cannot name the FROM clause's tables.)
        let rows = delivery::Entity::find()
            .from_raw_sql(stmt)
            .all(&engine.db)
            .await?;
        let ids: HashSet<i64> = rows.iter().map(|d| d.subscription_id).collect();
        let subs = if ids.is_empty() {
            vec![]
        } else {
            ws::Entity::find()
                .filter(ws::Column::Id.is_in(ids))
                .all(&engine.db)
                .await?
        };
        (rows, subs)
    };
    rows.sort_by_key(|d| d.id);
    Ok((rows, subs))
}

/// `s."col" AS "s_col", …` for every subscription column (read back with prefix `s_`).
fn subscription_columns() -> &'static str {
    static COLUMNS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    COLUMNS.get_or_init(|| {
        ws::Column::iter()
            .map(|c| format!("s.\"{0}\" AS \"s_{0}\"", sea_orm::IdenStatic::as_str(&c)))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

async fn dispatch_loop(engine: Arc<Engine>, shutdown: CancellationToken) {
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        let notified = engine.send_wake.notified();
        let committed = EVENTS_COMMITTED.notified();
        tokio::pin!(notified, committed);
        notified.as_mut().enable();
        committed.as_mut().enable();
        let busy = queue::busy(&engine);
        let started = Instant::now();
        let (claimed, subs) = match claim_due(&engine, engine.settings.batch, &busy).await {
            Ok((c, subs)) => {
                if !c.is_empty() {
                    tracing::debug!(
                        deliveries = c.len(),
                        busy = busy.len(),
                        ms = started.elapsed().as_secs_f64() * 1e3,
                        "claimed"
                    );
                }
                (c, subs)
            }
            Err(e) => {
                tracing::error!(error = %e, "claiming deliveries failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if claimed.is_empty() {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = &mut notified => {},
                _ = &mut committed => {},
                _ = tokio::time::sleep(engine.settings.idle_poll) => {},
            }
            continue;
        }
        metrics::counter!("webhook_claimed_total", "by" => "dispatcher")
            .increment(claimed.len() as u64);
        let mut groups: HashMap<i64, Vec<delivery::Model>> = HashMap::new();
        for d in claimed {
            groups.entry(d.subscription_id).or_default().push(d);
        }
        for sub in subs {
            let Some(ds) = groups.remove(&sub.id) else {
                continue;
            };
            if let Some(to) = queue::Target::new(&engine, sub) {
                queue::enqueue(&engine, to, ds);
            }
        }
    }
    // Let the queues finish what is in flight and hand back the rest (bounded by the HTTP
    // timeout).
    let deadline =
        tokio::time::Instant::now() + engine.settings.http.timeout + Duration::from_secs(1);
    while !engine.inflight.lock().expect("inflight lock").is_empty()
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Decrypted signing secrets: the current one, and the previous one during a rotation's overlap.
pub fn active_secrets(keys: &Keys, sub: &ws::Model) -> anyhow::Result<Vec<String>> {
    let mut out = vec![keys.decrypt(&sub.secret_encrypted)?];
    if let (Some(prev), Some(until)) = (
        &sub.previous_secret_encrypted,
        sub.previous_secret_expires_at,
    ) && until > Utc::now()
    {
        out.push(keys.decrypt(prev)?);
    }
    Ok(out)
}

const SENSITIVE: &[&str] = &[
    "auth",
    "token",
    "secret",
    "key",
    "password",
    "signature",
    "cookie",
    "session",
];

/// Headers as logged: credentials, signatures and secret-looking values are redacted.
pub fn redact(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            let lower = k.to_ascii_lowercase();
            if SENSITIVE.iter().any(|s| lower.contains(s)) {
                (k.clone(), "[redacted]".into())
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect()
}

/// Builds the request, sends it and decides the outcome. Never fails.
pub async fn attempt(
    engine: &Engine,
    sub: &ws::Model,
    secrets: &[String],
    d: delivery::Model,
) -> AttemptRecord {
    let now = Utc::now();
    let attempt_number = d.attempt_count + 1;
    let ts = now.timestamp();
    let mut headers: Vec<(String, String)> = vec![
        ("content-type".into(), "application/json".into()),
        (
            "user-agent".into(),
            concat!("Switchboard/", env!("CARGO_PKG_VERSION")).into(),
        ),
        ("webhook-id".into(), d.webhook_id.clone()),
        ("webhook-timestamp".into(), ts.to_string()),
        (
            "webhook-signature".into(),
            signer::signature_header(
                secrets.iter().map(String::as_str),
                &d.webhook_id,
                ts,
                d.payload.as_bytes(),
            ),
        ),
    ];
    headers.extend(crate::services::webhook_subscriptions::headers_of(sub));
    match receiver_auth(&engine.keys, sub) {
        Ok(Some(a)) => headers.push(("authorization".into(), a)),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(subscription_id = sub.id, error = %e, "cannot decrypt receiver credentials")
        }
    }
    let mut exchange = match url::Url::parse(&sub.url)
        .map_err(|e| e.to_string())
        .and_then(|u| ssrf::check_url_host(&u, &engine.allow))
    {
        Err(why) => Exchange {
            observed: Observed::Error(schedule::ErrorKind::Blocked),
            status: None,
            response_headers: None,
            response_body: None,
            truncated: false,
            error_message: Some(why),
            duration: Duration::ZERO,
        },
        Ok(()) => {
            http::post(
                &engine.client,
                &sub.url,
                &headers,
                d.payload.clone(),
                &engine.settings.http,
            )
            .await
        }
    };
    let mut outcome = match exchange.observed {
        // A refused destination will not become public by waiting.
        Observed::Error(schedule::ErrorKind::Blocked)
            if attempt_number as u32 > engine.settings.schedule.max_retries =>
        {
            Outcome::Failed
        }
        _ => engine.settings.schedule.decide(
            attempt_number as u32,
            &exchange.observed,
            rand::random::<f64>() * 2.0 - 1.0,
        ),
    };
    // A bot call is not retried: the chat needs its answer now, so any failure hands the
    // conversation to humans instead (seed 004 handling, `bots::settle`).
    let bot = sub.bot_connection_id.map(|conn| {
        use crate::bots::{answer, settle::BotResult};
        let result = match (&exchange.observed, &outcome) {
            (_, Outcome::Succeeded) if exchange.truncated => {
                BotResult::Failed("the answer is larger than the response limit".into())
            }
            (_, Outcome::Succeeded) => {
                match answer::parse_bytes(
                    exchange.response_body.as_deref().unwrap_or("").as_bytes(),
                ) {
                    Ok(a) => BotResult::Answered(a),
                    Err(e) => BotResult::Failed(format!("invalid answer: {e}")),
                }
            }
            (Observed::Status { code, .. }, _) => {
                BotResult::Failed(format!("the bot answered HTTP {code}"))
            }
            (Observed::Error(k), _) => BotResult::Failed(format!(
                "{}: {}",
                k.as_str().to_lowercase(),
                exchange.error_message.clone().unwrap_or_default()
            )),
        };
        (conn, result)
    });
    if let Some((_, crate::bots::settle::BotResult::Failed(why))) = &bot {
        if matches!(outcome, Outcome::Retry { .. } | Outcome::Succeeded) {
            outcome = Outcome::Failed;
        }
        if exchange.error_message.is_none() {
            exchange.error_message = Some(why.clone());
        }
    }
    AttemptRecord {
        bot,
        url: sub.url.clone(),
        request_headers: redact(&headers),
        delivery: d,
        attempt_number,
        exchange,
        outcome,
        at: now,
    }
}

fn receiver_auth(keys: &Keys, sub: &ws::Model) -> anyhow::Result<Option<String>> {
    use base64::Engine as _;
    if let Some(t) = &sub.bearer_token_encrypted {
        return Ok(Some(format!("Bearer {}", keys.decrypt(t)?)));
    }
    if let (Some(user), Some(pass)) = (&sub.basic_auth_username, &sub.basic_auth_password_encrypted)
    {
        let pass = keys.decrypt(pass)?;
        return Ok(Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )));
    }
    Ok(None)
}

/// Most attempts recorded in one transaction.
const RECORD_BATCH: usize = 256;
/// How long a small batch of attempts waits for more before it is recorded. Every batch is a
/// commit; first attempts now reach the recorder one by one (as their messages commit) rather
/// than in claimed bursts, and with instances splitting the load each sees fewer at a time.
/// Measured with three instances: 2 ms gave 1,628–1,760 deliveries/s, 10 ms 2,000–2,032.
const RECORD_FILL: Duration = Duration::from_millis(10);

async fn record_loop(
    engine: Arc<Engine>,
    mut rx: mpsc::Receiver<AttemptRecord>,
    shutdown: CancellationToken,
) {
    let mut buf = Vec::with_capacity(RECORD_BATCH);
    loop {
        tokio::select! {
            n = rx.recv_many(&mut buf, RECORD_BATCH) => {
                if n == 0 {
                    return;
                }
                if buf.len() < RECORD_BATCH / 4 {
                    // Every batch is a transaction: give a busy moment a little time to fill it
                    // (an attempt's answer is not delayed by this, only its log entry).
                    let until = tokio::time::Instant::now() + RECORD_FILL;
                    while buf.len() < RECORD_BATCH {
                        let room = RECORD_BATCH - buf.len();
                        match tokio::time::timeout_at(until, rx.recv_many(&mut buf, room)).await {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {}
                        }
                    }
                }
                let n = buf.len();
                let batch = std::mem::take(&mut buf);
                let started = Instant::now();
                record_with_retries(&engine, &batch).await;
                tracing::debug!(attempts = n, ms = started.elapsed().as_secs_f64() * 1e3, "recorded");
            }
            _ = shutdown.cancelled() => break,
        }
    }
    // Shutting down: record what in-flight attempts (first attempts and retries) still produce.
    loop {
        while let Ok(r) = rx.try_recv() {
            buf.push(r);
        }
        if !buf.is_empty() {
            let batch = std::mem::take(&mut buf);
            record_with_retries(&engine, &batch).await;
        }
        // Senders send, then stop counting themselves: read the counts first, the channel
        // last, so that nothing sent in between is left behind.
        let idle = engine
            .retries_under_way
            .load(std::sync::atomic::Ordering::SeqCst)
            == 0
            && engine.inflight.lock().expect("inflight lock").is_empty();
        if idle && rx.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn record_with_retries(engine: &Engine, batch: &[AttemptRecord]) {
    let mut tries = 0;
    loop {
        match record_batch(engine, batch).await {
            Ok(()) => return,
            // A delivery deleted meanwhile (with its subscription) fails the batch for good:
            // no point retrying it whole.
            Err(e) if tries < 5 && !deleted_meanwhile(&e) => {
                tries += 1;
                tracing::warn!(error = %e, tries, "recording attempts failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * tries)).await;
            }
            Err(e) if batch.len() > 1 => {
                // One bad record must not cost the others their log entries: one at a time.
                tracing::warn!(error = %e, n = batch.len(), "recording a batch of attempts failed; recording them one by one");
                for r in batch {
                    if let Err(e) = record_batch(engine, std::slice::from_ref(r)).await {
                        if deleted_meanwhile(&e) {
                            tracing::info!(
                                delivery_id = r.delivery.id,
                                "delivery deleted during its attempt (its subscription was deleted); attempt not logged"
                            );
                            continue;
                        }
                        // Its claim expires and the delivery is attempted again.
                        tracing::error!(error = %e, delivery_id = r.delivery.id, "recording an attempt failed; it will be retried after its lease");
                    }
                }
                return;
            }
            Err(e) if deleted_meanwhile(&e) => {
                let delivery_id = batch.first().map(|r| r.delivery.id);
                tracing::info!(
                    ?delivery_id,
                    "delivery deleted during its attempt (its subscription was deleted); attempt not logged"
                );
                return;
            }
            Err(e) => {
                // The claim expires and the delivery is attempted again.
                let delivery_id = batch.first().map(|r| r.delivery.id);
                tracing::error!(error = %e, ?delivery_id, "recording an attempt failed; it will be retried after its lease");
                return;
            }
        }
    }
}

/// Whether recording failed on a foreign key: the delivery (or its subscription) was deleted
/// while its attempt was under way, so there is nothing left to log it against.
fn deleted_meanwhile(e: &anyhow::Error) -> bool {
    e.downcast_ref::<sea_orm::DbErr>()
        .and_then(|e| e.sql_err())
        .is_some_and(|e| matches!(e, sea_orm::SqlErr::ForeignKeyConstraintViolation(_)))
}

fn status_of(o: &Outcome) -> DeliveryStatus {
    match o {
        Outcome::Succeeded => DeliveryStatus::Succeeded,
        Outcome::Retry { .. } => DeliveryStatus::Retrying,
        Outcome::Failed | Outcome::Gone => DeliveryStatus::Failed,
    }
}

fn outcome_label(o: &Outcome) -> &'static str {
    match o {
        Outcome::Succeeded => "succeeded",
        Outcome::Retry { .. } => "retrying",
        Outcome::Failed => "failed",
        Outcome::Gone => "gone",
    }
}

/// Writes a batch of attempts and moves their deliveries and subscriptions on, in one
/// transaction; then schedules retries and publishes the attempts.
pub async fn record_batch(engine: &Engine, batch: &[AttemptRecord]) -> anyhow::Result<()> {
    let mut attempts = Vec::with_capacity(batch.len());
    let mut updates = Vec::with_capacity(batch.len());
    let mut retries = Vec::new();
    let mut sub_ok: HashSet<i64> = HashSet::new();
    let mut sub_err: HashMap<i64, String> = HashMap::new();
    let mut sub_exhausted: HashSet<i64> = HashSet::new();
    let mut sub_gone: HashSet<i64> = HashSet::new();
    for r in batch {
        let next_at = match r.outcome {
            Outcome::Retry { after } => Some(r.at + chrono::Duration::from_std(after)?),
            _ => None,
        };
        let error_text = r
            .exchange
            .error_message
            .clone()
            .or_else(|| match r.exchange.observed {
                Observed::Status { code, .. } if !(200..300).contains(&code) => {
                    Some(format!("HTTP {code}"))
                }
                _ => None,
            });
        let error_kind = match &r.exchange.observed {
            Observed::Error(k) => Some(k.as_str().to_string()),
            Observed::Status { code, .. } if !(200..300).contains(code) => {
                Some("HTTP_STATUS".to_string())
            }
            _ => None,
        };
        attempts.push(delivery_attempt::Model {
            id: 0,
            delivery_id: r.delivery.id,
            account_id: r.delivery.account_id,
            subscription_id: r.delivery.subscription_id,
            attempt_number: r.attempt_number,
            url: r.url.clone(),
            request_headers: serde_json::json!(
                r.request_headers
                    .iter()
                    .map(|(k, v)| [k, v])
                    .collect::<Vec<_>>()
            ),
            request_body: crate::events::partner::redact_body(&r.delivery.payload).into_owned(),
            response_status: r.exchange.status.map(i32::from),
            response_headers: r
                .exchange
                .response_headers
                .as_ref()
                .map(|h| serde_json::json!(h.iter().map(|(k, v)| [k, v]).collect::<Vec<_>>())),
            response_body: r.exchange.response_body.clone(),
            response_truncated: r.exchange.truncated,
            duration_ms: r.exchange.duration.as_millis().min(i32::MAX as u128) as i32,
            error_kind,
            error_message: r.exchange.error_message.clone(),
            next_attempt_at: next_at,
            created_at: r.at,
            updated_at: r.at,
        });
        let status = status_of(&r.outcome);
        let done = matches!(status, DeliveryStatus::Succeeded | DeliveryStatus::Failed);
        updates.push(DeliveryUpdate {
            id: r.delivery.id,
            status,
            attempt_count: r.attempt_number,
            next_attempt_at: next_at,
            last_response_status: r.exchange.status.map(i32::from),
            last_error: error_text.clone(),
            completed_at: done.then_some(r.at),
        });
        match r.outcome {
            Outcome::Succeeded => {
                sub_ok.insert(r.delivery.subscription_id);
            }
            Outcome::Retry { .. } => {
                retries.push(jobs::RetryJob {
                    delivery_id: r.delivery.id,
                    attempt_count: r.attempt_number,
                    run_at: next_at.unwrap_or(r.at),
                });
            }
            Outcome::Failed => {
                sub_exhausted.insert(r.delivery.subscription_id);
            }
            Outcome::Gone => {
                sub_gone.insert(r.delivery.subscription_id);
            }
        }
        if let Some(e) = error_text {
            sub_err.insert(r.delivery.subscription_id, e);
        }
        metrics::counter!("webhook_attempts_total", "outcome" => outcome_label(&r.outcome))
            .increment(1);
        metrics::histogram!("webhook_attempt_duration_seconds")
            .record(r.exchange.duration.as_secs_f64());
        if done {
            metrics::counter!("webhook_deliveries_total", "outcome" => status.as_str())
                .increment(1);
        }
    }
    let announced = || -> Vec<live::Announced> {
        batch
            .iter()
            .map(|r| live::Announced {
                d: r.delivery.id,
                n: r.attempt_number,
                e: r.delivery.event_type.clone(),
                s: status_of(&r.outcome),
            })
            .collect()
    };
    // The usual batch on PostgreSQL (attempts that succeeded or will be retried, no bot answer
    // to apply) is one statement: one round trip and an implicit transaction instead of five
    // round trips. (The attempts are announced in it while anyone watches.)
    if engine.is_postgres()
        && sub_exhausted.is_empty()
        && sub_gone.is_empty()
        && batch.iter().all(|r| r.bot.is_none())
    {
        let notify = if engine.announcing() {
            live::payloads(&announced())?
        } else {
            vec![]
        };
        pg::record_attempts(
            engine.db.get_postgres_connection_pool(),
            attempts,
            &updates,
            &sub_ok,
            &sub_err,
            notify,
        )
        .await?;
        schedule_retries(engine, &retries).await;
        return Ok(());
    }
    let txn = crate::db::begin_write(&engine.db).await?;
    for chunk in updates.chunks(100) {
        update_deliveries(&txn, chunk).await?;
    }
    // On PostgreSQL attempts are announced to every instance while anyone watches (see
    // `live`); on SQLite the inserted rows go to this process's subscribers.
    if engine.is_postgres() && engine.announcing() {
        live::announce(&txn, &announced()).await?;
    }
    let inserted: Vec<LiveAttempt> = if !engine.is_postgres() && engine.live.receiver_count() > 0 {
        let mut out = Vec::with_capacity(attempts.len());
        for (a, r) in attempts.into_iter().zip(batch) {
            out.push(LiveAttempt {
                attempt: new_attempt(a).insert(&txn).await?,
                event_type: r.delivery.event_type.clone(),
                status: status_of(&r.outcome),
            });
        }
        out
    } else {
        let attempts: Vec<_> = attempts.into_iter().map(new_attempt).collect();
        for chunk in attempts.chunks(100) {
            delivery_attempt::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await?;
        }
        vec![]
    };
    let now = Utc::now();
    let mut values = Vec::new();
    let pg = engine.is_postgres();
    if let Some(sql) = subscriptions_update_sql(&sub_ok, &sub_err, &mut values, pg) {
        txn.execute_raw(Statement::from_sql_and_values(
            txn.get_database_backend(),
            sql,
            values,
        ))
        .await?;
    }
    for id in &sub_exhausted {
        ws::Entity::update_many()
            .col_expr(ws::Column::FailingSince, Expr::value(now))
            .filter(ws::Column::Id.eq(*id))
            .filter(ws::Column::FailingSince.is_null())
            .exec(&txn)
            .await?;
        let limit = now - chrono::Duration::from_std(engine.settings.disable_after)?;
        let disabled = ws::Entity::update_many()
            .col_expr(
                ws::Column::State,
                Expr::value(SubscriptionState::Disabled.as_str()),
            )
            .col_expr(
                ws::Column::StateReason,
                Expr::value(format!(
                    "deliveries kept failing after every retry for {}",
                    humantime::format_duration(engine.settings.disable_after)
                )),
            )
            .filter(ws::Column::Id.eq(*id))
            .filter(ws::Column::FailingSince.lte(limit))
            .exec(&txn)
            .await?;
        if disabled.rows_affected > 0 {
            cancel_open_deliveries(&txn, *id).await?;
        }
    }
    for id in &sub_gone {
        ws::Entity::update_many()
            .col_expr(
                ws::Column::State,
                Expr::value(SubscriptionState::Disabled.as_str()),
            )
            .col_expr(
                ws::Column::StateReason,
                Expr::value("the receiver answered 410 Gone"),
            )
            .filter(ws::Column::Id.eq(*id))
            .exec(&txn)
            .await?;
        cancel_open_deliveries(&txn, *id).await?;
    }
    // Bot calls (seed 004): the answer becomes messages, or the conversation goes to humans,
    // in the same transaction as the attempt.
    let mut bot_events = false;
    for r in batch {
        if let Some((conn, result)) = &r.bot {
            crate::bots::settle::apply(&txn, *conn, &r.delivery.payload, result.clone())
                .await
                .map_err(|e| anyhow::anyhow!("applying a bot answer failed: {e:?}"))?;
            bot_events = true;
        }
    }
    txn.commit().await?;
    if bot_events {
        events_committed();
    }
    schedule_retries(engine, &retries).await;
    for a in inserted {
        let _ = engine.live.send(a);
    }
    Ok(())
}

/// Schedules the retry jobs of recorded attempts. After commit: a crash here leaves RETRYING
/// rows that the dispatcher takes once overdue.
async fn schedule_retries(engine: &Engine, retries: &[jobs::RetryJob]) {
    if !retries.is_empty()
        && let Err(e) = engine.retries.schedule(retries).await
    {
        tracing::warn!(error = %e, n = retries.len(), "scheduling retry jobs failed; the overdue sweep will take them");
    }
}

/// A logged attempt to insert (its id from the database).
fn new_attempt(a: delivery_attempt::Model) -> delivery_attempt::ActiveModel {
    let mut a = delivery_attempt::ActiveModel::from(a);
    a.id = sea_orm::ActiveValue::NotSet;
    a
}

/// The subscriptions' side of recorded attempts in one `UPDATE … FROM (VALUES …)`: the last
/// error of each subscription that had one, and the end of the failing streak of each that had
/// a success. Its parameters are appended to `values`. `None` when there is nothing to update.
fn subscriptions_update_sql(
    sub_ok: &HashSet<i64>,
    sub_err: &HashMap<i64, String>,
    values: &mut Vec<sea_orm::Value>,
    pg: bool,
) -> Option<String> {
    let subs: std::collections::BTreeSet<i64> =
        sub_ok.iter().chain(sub_err.keys()).copied().collect();
    if subs.is_empty() {
        return None;
    }
    let mut tuples = Vec::with_capacity(subs.len());
    for id in subs {
        tuples.push(placeholders(values.len(), &["bigint", "bool", "text"], pg));
        values.push(id.into());
        values.push(sub_ok.contains(&id).into());
        values.push(sub_err.get(&id).cloned().into());
    }
    let tuples = tuples.join(", ");
    Some(if pg {
        format!(
            "UPDATE webhook_subscriptions AS s SET last_error = COALESCE(x.err, s.last_error), \
             failing_since = CASE WHEN x.ok THEN NULL ELSE s.failing_since END \
             FROM (VALUES {tuples}) AS x(id, ok, err) \
             WHERE s.id = x.id AND (x.err IS NOT NULL OR (x.ok AND s.failing_since IS NOT NULL))"
        )
    } else {
        format!(
            "UPDATE webhook_subscriptions SET last_error = COALESCE(x.column3, last_error), \
             failing_since = CASE WHEN x.column2 THEN NULL ELSE failing_since END \
             FROM (VALUES {tuples}) AS x WHERE webhook_subscriptions.id = x.column1 \
             AND (x.column3 IS NOT NULL OR (x.column2 AND webhook_subscriptions.failing_since IS NOT NULL))"
        )
    })
}

/// One row of a `VALUES` list: `($n+1::cast, …)` on PostgreSQL (numbered after the `n` values
/// already bound), `(?, …)` on SQLite.
pub(crate) fn placeholders(n: usize, casts: &[&str], pg: bool) -> String {
    let cols: Vec<String> = casts
        .iter()
        .enumerate()
        .map(|(i, cast)| {
            if pg {
                format!("${}::{cast}", n + i + 1)
            } else {
                "?".to_string()
            }
        })
        .collect();
    format!("({})", cols.join(", "))
}

/// The new state of one delivery after an attempt.
struct DeliveryUpdate {
    id: i64,
    status: DeliveryStatus,
    attempt_count: i32,
    next_attempt_at: Option<DateTime<Utc>>,
    last_response_status: Option<i32>,
    last_error: Option<String>,
    completed_at: Option<DateTime<Utc>>,
}

/// Moves many deliveries on in one statement (`UPDATE … FROM (VALUES …)`): every statement is
/// a round trip, and round trips are what a delivery costs most.
async fn update_deliveries<C: ConnectionTrait>(
    db: &C,
    rows: &[DeliveryUpdate],
) -> Result<(), sea_orm::DbErr> {
    let backend = db.get_database_backend();
    let mut values = Vec::with_capacity(rows.len() * 7 + 1);
    let sql = deliveries_update_sql(rows, &mut values, backend == DatabaseBackend::Postgres);
    db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}

/// The text of [`update_deliveries`]; its parameters are appended to `values` (on PostgreSQL
/// numbered after those already there, so it can join a larger statement).
fn deliveries_update_sql(
    rows: &[DeliveryUpdate],
    values: &mut Vec<sea_orm::Value>,
    pg: bool,
) -> String {
    let mut tuples = Vec::with_capacity(rows.len());
    values.push(Utc::now().into());
    let updated_at = if pg {
        format!("${}", values.len())
    } else {
        "?".to_string()
    };
    for r in rows {
        tuples.push(placeholders(
            values.len(),
            &[
                "bigint",
                "text",
                "int",
                "timestamptz",
                "int",
                "text",
                "timestamptz",
            ],
            pg,
        ));
        values.push(r.id.into());
        values.push(r.status.as_str().into());
        values.push(r.attempt_count.into());
        values.push(r.next_attempt_at.into());
        values.push(r.last_response_status.into());
        values.push(r.last_error.clone().into());
        values.push(r.completed_at.into());
    }
    // Both texts bind `updated_at` before the rows (on SQLite, the first `?`).
    if pg {
        format!(
            "UPDATE deliveries AS d SET status = v.status, attempt_count = v.attempt_count, next_attempt_at = v.next_attempt_at, \
             claimed_until = NULL, last_response_status = v.last_response_status, last_error = v.last_error, \
             completed_at = v.completed_at, updated_at = {updated_at} \
             FROM (VALUES {}) AS v(id, status, attempt_count, next_attempt_at, last_response_status, last_error, completed_at) \
             WHERE d.id = v.id",
            tuples.join(", ")
        )
    } else {
        format!(
            "UPDATE deliveries SET status = v.column2, attempt_count = v.column3, next_attempt_at = v.column4, \
             claimed_until = NULL, last_response_status = v.column5, last_error = v.column6, \
             completed_at = v.column7, updated_at = {updated_at} \
             FROM (VALUES {}) AS v WHERE deliveries.id = v.column1",
            tuples.join(", ")
        )
    }
}

/// Deliveries that will never be attempted now (their subscription was disabled).
pub async fn cancel_open_deliveries<C: ConnectionTrait>(
    db: &C,
    subscription_id: i64,
) -> Result<u64, sea_orm::DbErr> {
    let r = delivery::Entity::update_many()
        .col_expr(
            delivery::Column::Status,
            Expr::value(DeliveryStatus::Cancelled.as_str()),
        )
        .col_expr(delivery::Column::CompletedAt, Expr::value(Utc::now()))
        .col_expr(
            delivery::Column::NextAttemptAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(delivery::Column::SubscriptionId.eq(subscription_id))
        .filter(delivery::Column::Status.is_in([
            DeliveryStatus::Pending.as_str(),
            DeliveryStatus::Retrying.as_str(),
        ]))
        .exec(db)
        .await?;
    Ok(r.rows_affected)
}

/// Runs the retry of one delivery (called by the apalis job): waits until its stored time,
/// claims it, attempts it and records the attempt.
pub async fn run_retry(
    engine: &Engine,
    delivery_id: i64,
    attempt_count: i32,
) -> anyhow::Result<()> {
    // Counted from the start, so that a shutting-down recorder waits for this retry; a retry
    // that has not claimed yet when the instance stops leaves the delivery to the overdue
    // sweep (of this instance after a restart, or of another one).
    struct UnderWay<'a>(&'a std::sync::atomic::AtomicUsize);
    impl Drop for UnderWay<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    engine
        .retries_under_way
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let _under_way = UnderWay(&engine.retries_under_way);
    if engine.stopping.is_cancelled() {
        return Ok(());
    }
    let Some(d) = delivery::Entity::find_by_id(delivery_id)
        .one(&engine.db)
        .await?
    else {
        return Ok(());
    };
    if d.status != DeliveryStatus::Retrying || d.attempt_count != attempt_count {
        return Ok(()); // already handled (by the overdue sweep, an operator, or an earlier run)
    }
    if let Some(at) = d.next_attempt_at {
        // apalis schedules in whole seconds; wait out the rest here.
        let wait = (at - Utc::now()).to_std().unwrap_or_default();
        if wait > Duration::ZERO {
            tokio::select! {
                _ = tokio::time::sleep(wait.min(Duration::from_secs(5))) => {}
                _ = engine.stopping.cancelled() => return Ok(()),
            }
        }
    }
    if engine.stopping.is_cancelled() {
        return Ok(());
    }
    let now = Utc::now();
    let lease_until = engine.lease_until().context("lease out of range")?;
    let claimed = delivery::Entity::update_many()
        .col_expr(delivery::Column::ClaimedUntil, Expr::value(lease_until))
        .filter(delivery::Column::Id.eq(delivery_id))
        .filter(delivery::Column::Status.eq(DeliveryStatus::Retrying.as_str()))
        .filter(delivery::Column::AttemptCount.eq(attempt_count))
        .filter(
            delivery::Column::ClaimedUntil
                .is_null()
                .or(delivery::Column::ClaimedUntil.lt(now)),
        )
        .exec_with_returning(&engine.db)
        .await?;
    let Some(d) = claimed.into_iter().next() else {
        return Ok(());
    };
    let sub = ws::Entity::find_by_id(d.subscription_id)
        .one(&engine.db)
        .await?;
    let Some(sub) = sub.filter(|s| s.state == SubscriptionState::Enabled) else {
        // Paused (or gone): hand it back as pending; it goes out in order on resume.
        delivery::Entity::update_many()
            .col_expr(
                delivery::Column::Status,
                Expr::value(DeliveryStatus::Pending.as_str()),
            )
            .col_expr(
                delivery::Column::ClaimedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(delivery::Column::Id.eq(delivery_id))
            .exec(&engine.db)
            .await?;
        return Ok(());
    };
    let secrets = active_secrets(&engine.keys, &sub)?;
    let rec = attempt(engine, &sub, &secrets, d).await;
    // Recorded in the recorder's next batch, like first attempts (one write transaction for
    // many attempts, which is what SQLite's single writer needs under a retry storm).
    engine
        .recorder
        .send(rec)
        .await
        .map_err(|_| anyhow::anyhow!("recorder stopped; attempt not recorded"))
}

/// Metrics gauges every few seconds; on PostgreSQL, the stalest table's statistics refreshed
/// ([`pg::analyze_stale_table`]) every 10 s; attempt-log retention hourly.
async fn housekeeping_loop(engine: Arc<Engine>, retention: Duration, shutdown: CancellationToken) {
    let mut gauges = tokio::time::interval(Duration::from_secs(5));
    let mut analyze = tokio::time::interval(Duration::from_secs(10));
    let mut prune = tokio::time::interval(Duration::from_secs(3600));
    if engine.is_postgres()
        && let Ok(false) = pg::autovacuum_on(engine.db.get_postgres_connection_pool()).await
    {
        tracing::warn!(
            "PostgreSQL runs without autovacuum: Switchboard refreshes its tables' statistics \
             itself, but their dead rows are reclaimed only by a VACUUM you run"
        );
    }
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = analyze.tick(), if engine.is_postgres() => {
                match pg::analyze_stale_table(engine.db.get_postgres_connection_pool()).await {
                    Ok(Some(table)) => tracing::debug!(table, "statistics refreshed"),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "refreshing table statistics failed"),
                }
            }
            _ = gauges.tick() => {
                if let Err(e) = update_gauges(&engine).await {
                    tracing::debug!(error = %e, "queue gauges not updated");
                }
            }
            _ = prune.tick() => {
                match prune_attempts(&engine.db, retention).await {
                    Ok(n) if n > 0 => tracing::info!(deleted = n, "pruned old delivery attempts"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "pruning delivery attempts failed"),
                }
                engine.retries.prune().await;
            }
        }
    }
}

async fn update_gauges(engine: &Engine) -> anyhow::Result<()> {
    let open = [
        DeliveryStatus::Pending.as_str(),
        DeliveryStatus::Retrying.as_str(),
    ];
    let depth = sea_orm::PaginatorTrait::count(
        delivery::Entity::find().filter(delivery::Column::Status.is_in(open)),
        &engine.db,
    )
    .await?;
    let oldest = delivery::Entity::find()
        .filter(delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .order_by_asc(delivery::Column::Id)
        .one(&engine.db)
        .await?;
    metrics::gauge!("webhook_queue_depth").set(depth as f64);
    let age = oldest
        .map(|d| Ord::max((Utc::now() - d.created_at).num_milliseconds(), 0) as f64 / 1000.0)
        .unwrap_or(0.0);
    metrics::gauge!("webhook_oldest_pending_age_seconds").set(age);
    Ok(())
}

/// Deletes attempts older than `retention`.
/// Also deletes dispatched events older than `retention` that have no open delivery (their
/// finished deliveries go with them), so the outbox does not grow without bound. Returns the
/// number of attempts deleted.
pub async fn prune_attempts(db: &DatabaseConnection, retention: Duration) -> anyhow::Result<u64> {
    let before = Utc::now() - chrono::Duration::from_std(retention)?;
    let attempts = delivery_attempt::Entity::delete_many()
        .filter(delivery_attempt::Column::CreatedAt.lt(before))
        .exec(db)
        .await?
        .rows_affected;
    let open = sea_orm::sea_query::Query::select()
        .column(delivery::Column::EventId)
        .from(delivery::Entity)
        .and_where(delivery::Column::Status.is_in([
            DeliveryStatus::Pending.as_str(),
            DeliveryStatus::Retrying.as_str(),
        ]))
        .to_owned();
    let events = event::Entity::delete_many()
        .filter(event::Column::DispatchedAt.is_not_null())
        .filter(event::Column::CreatedAt.lt(before))
        .filter(event::Column::Id.not_in_subquery(open))
        .exec(db)
        .await?
        .rows_affected;
    if events > 0 {
        tracing::info!(events, "pruned old events and their finished deliveries");
    }
    Ok(attempts)
}
