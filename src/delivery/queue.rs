//! This instance's send queues: one per subscription with deliveries claimed here.
//!
//! A delivery is claimed by this instance either by the dispatcher's claim (a lease taken on
//! due rows) or, on PostgreSQL, by the very transaction that wrote it ([`Claimed`]): a new
//! message's deliveries are inserted with this instance's lease and handed to its queues after
//! commit, so a first attempt costs no claim statement and no wake-up round trip. Either way the
//! delivery joins its subscription's queue, where one task starts them in order, at most
//! `concurrency` at once.
//!
//! Order per subscription is kept because a transaction claims a subscription's new delivery
//! only when the subscription has no unclaimed pending delivery (the `backlog` read with the
//! subscriptions, on `idx_deliveries_unclaimed`) and is enabled, and the dispatcher does not
//! claim for a subscription whose queue here is not empty. A queued delivery whose lease would
//! run out before its attempt could end is handed back (with everything queued behind it)
//! rather than risk a second instance sending it too.

use std::{
    collections::{HashSet, VecDeque, hash_map::Entry},
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use entity::{delivery, enums::SubscriptionState, webhook_subscription as ws};
use futures::stream::{FuturesUnordered, StreamExt};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use tokio::sync::Notify;

use super::{Engine, active_secrets, attempt, events_committed};

/// A queue this long (in multiples of `concurrency`) stops new deliveries from being claimed
/// by the transactions that write them: they wait in the database for the dispatcher instead.
/// It is also the least of one subscription's backlog that one dispatcher claim takes on
/// PostgreSQL ([`Engine::claim_per_subscription`]).
const CROWDED: usize = 4;

/// How much lease a queued delivery must have left, beyond the attempt timeout, to be started.
const LEASE_MARGIN: Duration = Duration::from_secs(2);

/// A subscription's queue on this instance. It exists while its task runs.
pub(super) struct Slot {
    queue: VecDeque<Queued>,
    in_flight: usize,
    /// The dispatcher left this subscription's due deliveries in the database while it was
    /// busy here: wake the dispatcher when it is not.
    skipped: bool,
    /// Tells the task that more was queued.
    more: Arc<Notify>,
}

struct Queued {
    to: Arc<Target>,
    d: delivery::Model,
}

/// A subscription as its attempts need it: the row as claimed, and its signing secrets.
pub(super) struct Target {
    sub: ws::Model,
    secrets: Vec<String>,
}

impl Target {
    pub(super) fn new(engine: &Engine, sub: ws::Model) -> Option<Arc<Self>> {
        match active_secrets(engine.keys(), &sub) {
            Ok(secrets) => Some(Arc::new(Self { sub, secrets })),
            Err(e) => {
                // Its claims run out and it is tried again then.
                tracing::error!(subscription_id = sub.id, error = %e, "cannot decrypt subscription secrets");
                None
            }
        }
    }
}

/// Subscriptions whose due deliveries the dispatcher must not claim now (their queue here is
/// not empty, or full in flight); each is marked so that it wakes the dispatcher when free.
pub(super) fn busy(engine: &Engine) -> Vec<i64> {
    let concurrency = engine.settings.concurrency;
    let mut slots = engine.inflight.lock().expect("inflight lock");
    slots
        .iter_mut()
        .filter(|(_, s)| !s.queue.is_empty() || s.in_flight >= concurrency)
        .map(|(id, s)| {
            s.skipped = true;
            *id
        })
        .collect()
}

/// Queues claimed deliveries of one subscription (in id order), starting its task if needed.
pub(super) fn enqueue(engine: &Arc<Engine>, to: Arc<Target>, ds: Vec<delivery::Model>) {
    let id = to.sub.id;
    let items = ds.into_iter().map(|d| Queued { to: to.clone(), d });
    let mut slots = engine.inflight.lock().expect("inflight lock");
    match slots.entry(id) {
        Entry::Occupied(mut o) => {
            let slot = o.get_mut();
            slot.queue.extend(items);
            slot.more.notify_one();
        }
        Entry::Vacant(v) => {
            let more = Arc::new(Notify::new());
            v.insert(Slot {
                queue: items.collect(),
                in_flight: 0,
                skipped: false,
                more: more.clone(),
            });
            tokio::spawn(send_queue(engine.clone(), id, more));
        }
    }
}

/// The task of one subscription's queue: starts its deliveries in order while fewer than
/// `concurrency` are in flight, hands each finished attempt to the recorder, and ends (freeing
/// the slot) when the queue is empty and nothing is in flight.
async fn send_queue(engine: Arc<Engine>, sub_id: i64, more: Arc<Notify>) {
    let concurrency = engine.settings.concurrency;
    let mut running = FuturesUnordered::new();
    loop {
        let mut start = Vec::new();
        let mut hand_back = Vec::new();
        let done = {
            let mut slots = engine.inflight.lock().expect("inflight lock");
            let Some(slot) = slots.get_mut(&sub_id) else {
                return; // not expected: only this task removes its slot
            };
            let enough_until = Utc::now()
                + chrono::Duration::from_std(engine.settings.http.timeout + LEASE_MARGIN)
                    .unwrap_or_default();
            while slot.in_flight < concurrency
                && let Some(q) = slot.queue.pop_front()
            {
                if engine.stopping.is_cancelled() || q.d.claimed_until < Some(enough_until) {
                    // Leaving, or the lease could run out mid-attempt: hand this and everything
                    // behind it back, in order, to whichever instance claims them next.
                    hand_back.push(q.d);
                    hand_back.extend(slot.queue.drain(..).map(|q| q.d));
                    break;
                }
                slot.in_flight += 1;
                start.push(q);
            }
            // The slot goes only once what it hands back is released: the recorder's drain at
            // shutdown and the dispatcher's next claim both rely on that.
            let done = hand_back.is_empty()
                && running.is_empty()
                && start.is_empty()
                && slot.queue.is_empty();
            if done && slots.remove(&sub_id).is_some_and(|s| s.skipped) {
                engine.wake();
            }
            done
        };
        if !hand_back.is_empty() {
            let why = if engine.stopping.is_cancelled() {
                "shutting down"
            } else {
                "their lease would run out before they could be sent"
            };
            release_claims(&engine, &hand_back, why).await;
        }
        for q in start {
            let engine = engine.clone();
            running.push(async move { attempt(&engine, &q.to.sub, &q.to.secrets, q.d).await });
        }
        if done {
            return;
        }
        if running.is_empty() {
            // Only handed back (nothing runs to wait for): look again, and the slot goes.
            continue;
        }
        tokio::select! {
            Some(rec) = running.next() => {
                {
                    let mut slots = engine.inflight.lock().expect("inflight lock");
                    if let Some(slot) = slots.get_mut(&sub_id) {
                        slot.in_flight -= 1;
                        if slot.skipped && slot.queue.is_empty() && slot.in_flight < concurrency {
                            slot.skipped = false;
                            engine.wake();
                        }
                    }
                }
                ended(&engine, sub_id);
                if engine.recorder.send(rec).await.is_err() {
                    tracing::error!("recorder stopped; attempt not recorded");
                }
            }
            _ = more.notified() => {}
        }
    }
}

/// Deliveries that the transaction writing them claimed for this instance (see the module
/// docs). Get one from [`Engine::claiming`] before the transaction, pass it to the outbox, and
/// give it to [`committed`] after the commit; a rolled-back transaction's is simply dropped.
pub struct Claimed {
    pub(super) lease_until: DateTime<Utc>,
    /// Subscriptions whose queue here is long: their new deliveries are left unclaimed.
    crowded: HashSet<i64>,
    taken: Vec<(ws::Model, delivery::Model)>,
    /// Deliveries written unclaimed, for the dispatcher.
    pub(super) unclaimed: usize,
}

impl Claimed {
    /// Whether a new delivery to `sub` is claimed by the writing transaction.
    pub(super) fn takes(&self, sub: &ws::Model, backlog: bool) -> bool {
        sub.state == SubscriptionState::Enabled && !backlog && !self.crowded.contains(&sub.id)
    }

    pub(super) fn took(&mut self, sub: &ws::Model, d: delivery::Model) {
        self.taken.push((sub.clone(), d));
    }
}

/// How fast one subscription's attempts end on this instance: a count of ended attempts that
/// decays with a time constant of [`PACE_WINDOW`], so it reads about the attempts that ended
/// in the last second.
pub(super) struct Pace {
    score: f64,
    at: Instant,
}

/// How much of each subscription's backlog a dispatcher claim takes on PostgreSQL.
pub(super) struct PerSubscription {
    /// For every subscription not in `paced`.
    pub least: i64,
    /// (subscription id, most) for the subscriptions that get more.
    pub paced: Vec<(i64, i64)>,
}

/// The time over which [`Pace`] counts.
const PACE_WINDOW: Duration = Duration::from_secs(1);

impl Pace {
    fn at(&self, now: Instant) -> f64 {
        let gone = now.saturating_duration_since(self.at).as_secs_f64();
        self.score * (-gone / PACE_WINDOW.as_secs_f64()).exp()
    }

    fn ended(&mut self, now: Instant) {
        self.score = self.at(now) + 1.0;
        self.at = now;
    }
}

/// Counts one ended attempt of `sub_id` in its pace.
fn ended(engine: &Engine, sub_id: i64) {
    let now = Instant::now();
    let mut paces = engine.paces.lock().expect("paces lock");
    paces
        .entry(sub_id)
        .or_insert(Pace {
            score: 0.0,
            at: now,
        })
        .ended(now);
}

impl Engine {
    /// How many due deliveries of one subscription a dispatcher claim takes on PostgreSQL:
    /// about what this instance sent to it in the last second ([`Pace`]), at least
    /// 4 × `concurrency` and at most the batch: enough to keep its queue here busy until the
    /// queue empties and wakes the dispatcher for more (a fast receiver's backlog drains in
    /// few, large claims), few enough that instances draining one subscription's backlog share
    /// it and that a slow receiver's claims do not wait in the queue for their lease to run
    /// out.
    pub(super) fn claim_per_subscription(&self) -> PerSubscription {
        let batch = i64::try_from(self.settings.batch).unwrap_or(i64::MAX);
        let floor = i64::try_from(CROWDED * self.settings.concurrency)
            .unwrap_or(i64::MAX)
            .min(batch);
        let now = Instant::now();
        let mut paces = self.paces.lock().expect("paces lock");
        // Paces down to the least are forgotten (the least applies to them anyway).
        let mut paced = Vec::new();
        paces.retain(|id, p| {
            let n = p.at(now) as i64;
            if n > floor {
                paced.push((*id, n.min(batch)));
            }
            n > floor
        });
        PerSubscription {
            least: floor,
            paced,
        }
    }

    /// A [`Claimed`] for a transaction about to write events, if this instance delivers and is
    /// not shutting down.
    pub fn claiming(&self) -> Option<Claimed> {
        // On SQLite the claim is an in-process statement, not a network round trip, while the
        // probe for older unclaimed deliveries would lengthen every write under the single
        // writer's lock (measured: 20-30 % fewer deliveries/s); the dispatcher claims there.
        if !self.delivers || self.stopping.is_cancelled() || !self.is_postgres() {
            return None;
        }
        let limit = CROWDED * self.settings.concurrency;
        let crowded = self
            .inflight
            .lock()
            .expect("inflight lock")
            .iter()
            .filter(|(_, s)| s.queue.len() >= limit)
            .map(|(id, _)| *id)
            .collect();
        let lease_until = self.lease_until()?;
        Some(Claimed {
            lease_until,
            crowded,
            taken: Vec::new(),
            unclaimed: 0,
        })
    }
}

/// Commits a transaction that recorded events and hands over what it claimed ([`committed`]),
/// in a task of its own: a request cancelled mid-commit (its client went away) must not leave
/// committed deliveries claimed here but never queued.
pub async fn commit_and_hand_over(
    engine: &Arc<Engine>,
    txn: sea_orm::DatabaseTransaction,
    claimed: Option<Claimed>,
) -> Result<(), sea_orm::DbErr> {
    let engine = engine.clone();
    detached(async move {
        txn.commit().await?;
        committed(&engine, claimed);
        Ok(())
    })
    .await
}

/// Runs a write and its hand-over in a task of their own and waits for them: a request
/// cancelled mid-write (its client went away) must not leave committed deliveries claimed here
/// but never queued, so both run to the end either way.
pub(super) async fn detached<T: Send + 'static>(
    work: impl Future<Output = Result<T, sea_orm::DbErr>> + Send + 'static,
) -> Result<T, sea_orm::DbErr> {
    tokio::spawn(work)
        .await
        .map_err(|e| sea_orm::DbErr::Custom(format!("write task failed: {e}")))?
}

/// Call after committing a transaction that recorded events, with its [`Claimed`] if it had
/// one: the claimed deliveries join their queues here, and the dispatcher is woken for the
/// rest.
pub(super) fn committed(engine: &Arc<Engine>, claimed: Option<Claimed>) {
    let Some(c) = claimed else {
        events_committed();
        return;
    };
    if c.unclaimed > 0 {
        events_committed();
    }
    metrics::counter!("webhook_claimed_total", "by" => "writer").increment(c.taken.len() as u64);
    for (sub, d) in c.taken {
        if let Some(to) = Target::new(engine, sub) {
            enqueue(engine, to, vec![d]);
        }
    }
}

/// Clears this instance's leases on claimed deliveries that will not be sent here, so any
/// instance can take them now (if this fails, the leases simply run out). On PostgreSQL only
/// the leases still as this instance took them are cleared: a lease that ran out and was taken
/// by another instance stays with it.
async fn release_claims(engine: &Engine, ds: &[delivery::Model], why: &'static str) {
    let mut released = 0;
    for chunk in ds.chunks(500) {
        let r = if engine.is_postgres() {
            super::pg::release_claims(engine.db.get_postgres_connection_pool(), chunk).await
        } else {
            // One instance per SQLite database: its leases are its own.
            delivery::Entity::update_many()
                .col_expr(
                    delivery::Column::ClaimedUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .filter(delivery::Column::Id.is_in(chunk.iter().map(|d| d.id)))
                .exec(&engine.db)
                .await
                .map(|r| r.rows_affected)
        };
        match r {
            Ok(n) => released += n,
            Err(e) => {
                tracing::warn!(error = %e, "could not release claims; their lease will expire");
                return;
            }
        }
    }
    tracing::info!(
        deliveries = ds.len(),
        released,
        why,
        "unsent claims released"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pace_reads_about_the_attempts_ended_in_the_last_second() {
        let t0 = Instant::now();
        let mut p = Pace { score: 0.0, at: t0 };
        // 2,000 attempts/s for two seconds: close to 2,000 (1 − e⁻² of it).
        for i in 1..=4000u64 {
            p.ended(t0 + Duration::from_micros(500 * i));
        }
        let now = t0 + Duration::from_secs(2);
        assert!((1700.0..=2000.0).contains(&p.at(now)), "{}", p.at(now));
        // Nothing more for a second: it falls by e; for five more, to almost nothing.
        let later = p.at(now + Duration::from_secs(1));
        assert!(
            (later - p.at(now) / std::f64::consts::E).abs() < 1.0,
            "{later}"
        );
        assert!(p.at(now + Duration::from_secs(6)) < 5.0);
    }
}
