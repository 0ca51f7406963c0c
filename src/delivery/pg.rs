//! The delivery engine's hot statements on PostgreSQL, each with one fixed text.
//!
//! A batch (attempts to log, a claim's busy subscriptions, leases to release) is bound as
//! arrays and expanded with `unnest`, instead of a `VALUES` list with a placeholder per cell.
//! A `VALUES` list makes a new SQL text for every batch size: each new text costs a parse and
//! plan round trip, and sqlx keeps up to 100 prepared statements per connection, which is most
//! of what the server's memory grew by while draining a backlog. With arrays every statement
//! is prepared once per connection.
//!
//! These run on the pool directly through sqlx (sea-orm's values cannot hold arrays with
//! nulls); errors come back as [`DbErr`], so callers see the same error type as elsewhere.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use chrono::{DateTime, Utc};
use entity::{delivery, delivery_attempt, webhook_subscription as ws};
use sea_orm::{DbErr, FromQueryResult, QueryResult, RuntimeErr, sqlx};

use super::DeliveryUpdate;

fn db_err(e: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e)))
}

/// Logs attempts, moves their deliveries on, updates their subscriptions (last error; a
/// success ends a failing streak) and, while anyone watches, announces them
/// (`pg_notify(channel, payload)` for each of `notify`) — one statement, so one round trip and
/// an implicit transaction.
pub(super) async fn record_attempts(
    pool: &sqlx::PgPool,
    attempts: Vec<delivery_attempt::Model>,
    updates: &[DeliveryUpdate],
    sub_ok: &HashSet<i64>,
    sub_err: &HashMap<i64, String>,
    notify: Vec<String>,
) -> Result<(), DbErr> {
    const SQL: &str = "WITH a AS (\
        INSERT INTO delivery_attempts (delivery_id, account_id, subscription_id, attempt_number, \
          url, request_headers, request_body, response_status, response_headers, response_body, \
          response_truncated, duration_ms, error_kind, error_message, next_attempt_at, created_at, \
          updated_at) \
        SELECT v.*, v.created_at FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::int[], \
          $5::text[], $6::jsonb[], $7::text[], $8::int[], $9::jsonb[], $10::text[], $11::bool[], \
          $12::int[], $13::text[], $14::text[], $15::timestamptz[], $16::timestamptz[]) \
          AS v(delivery_id, account_id, subscription_id, attempt_number, url, request_headers, \
          request_body, response_status, response_headers, response_body, response_truncated, \
          duration_ms, error_kind, error_message, next_attempt_at, created_at)), \
      u AS (\
        UPDATE deliveries AS d SET status = v.status, attempt_count = v.attempt_count, \
          next_attempt_at = v.next_attempt_at, claimed_until = NULL, \
          last_response_status = v.last_response_status, last_error = v.last_error, \
          completed_at = v.completed_at, updated_at = $20 \
        FROM unnest($17::bigint[], $18::text[], $19::int[], $21::timestamptz[], $22::int[], \
          $23::text[], $24::timestamptz[]) \
          AS v(id, status, attempt_count, next_attempt_at, last_response_status, last_error, \
          completed_at) \
        WHERE d.id = v.id), \
      w AS (\
        UPDATE webhook_subscriptions AS s SET last_error = COALESCE(x.err, s.last_error), \
          failing_since = CASE WHEN x.ok THEN NULL ELSE s.failing_since END \
        FROM unnest($25::bigint[], $26::bool[], $27::text[]) AS x(id, ok, err) \
        WHERE s.id = x.id AND (x.err IS NOT NULL OR (x.ok AND s.failing_since IS NOT NULL))), \
      n AS (SELECT pg_notify($28, p) FROM unnest($29::text[]) AS p) \
      SELECT count(*) FROM n";

    let len = attempts.len();
    let mut delivery_id = Vec::with_capacity(len);
    let mut account_id = Vec::with_capacity(len);
    let mut subscription_id = Vec::with_capacity(len);
    let mut attempt_number = Vec::with_capacity(len);
    let mut url = Vec::with_capacity(len);
    let mut request_headers = Vec::with_capacity(len);
    let mut request_body = Vec::with_capacity(len);
    let mut response_status = Vec::with_capacity(len);
    let mut response_headers = Vec::with_capacity(len);
    let mut response_body = Vec::with_capacity(len);
    let mut response_truncated = Vec::with_capacity(len);
    let mut duration_ms = Vec::with_capacity(len);
    let mut error_kind = Vec::with_capacity(len);
    let mut error_message = Vec::with_capacity(len);
    let mut next_attempt_at = Vec::with_capacity(len);
    let mut created_at = Vec::with_capacity(len);
    for a in attempts {
        delivery_id.push(a.delivery_id);
        account_id.push(a.account_id);
        subscription_id.push(a.subscription_id);
        attempt_number.push(a.attempt_number);
        url.push(a.url);
        request_headers.push(a.request_headers);
        request_body.push(a.request_body);
        response_status.push(a.response_status);
        response_headers.push(a.response_headers);
        response_body.push(a.response_body);
        response_truncated.push(a.response_truncated);
        duration_ms.push(a.duration_ms);
        error_kind.push(a.error_kind);
        error_message.push(a.error_message);
        next_attempt_at.push(a.next_attempt_at);
        created_at.push(a.created_at);
    }
    // Subscriptions in id order, so concurrent recorders lock them in the same order.
    let subs: std::collections::BTreeSet<i64> =
        sub_ok.iter().chain(sub_err.keys()).copied().collect();
    let sub_ids: Vec<i64> = subs.into_iter().collect();
    let ok: Vec<bool> = sub_ids.iter().map(|id| sub_ok.contains(id)).collect();
    let err: Vec<Option<&str>> = sub_ids
        .iter()
        .map(|id| sub_err.get(id).map(String::as_str))
        .collect();
    sqlx::query(SQL)
        .bind(delivery_id)
        .bind(account_id)
        .bind(subscription_id)
        .bind(attempt_number)
        .bind(url)
        .bind(request_headers)
        .bind(request_body)
        .bind(response_status)
        .bind(response_headers)
        .bind(response_body)
        .bind(response_truncated)
        .bind(duration_ms)
        .bind(error_kind)
        .bind(error_message)
        .bind(next_attempt_at)
        .bind(created_at)
        .bind(updates.iter().map(|u| u.id).collect::<Vec<_>>())
        .bind(
            updates
                .iter()
                .map(|u| u.status.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(updates.iter().map(|u| u.attempt_count).collect::<Vec<_>>())
        .bind(Utc::now())
        .bind(
            updates
                .iter()
                .map(|u| u.next_attempt_at)
                .collect::<Vec<_>>(),
        )
        .bind(
            updates
                .iter()
                .map(|u| u.last_response_status)
                .collect::<Vec<_>>(),
        )
        .bind(
            updates
                .iter()
                .map(|u| u.last_error.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(updates.iter().map(|u| u.completed_at).collect::<Vec<_>>())
        .bind(sub_ids)
        .bind(ok)
        .bind(err)
        .bind(super::live::CHANNEL)
        .bind(notify)
        .execute(pool)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Claims due deliveries of enabled subscriptions not in `busy` until `lease_until`: per
/// enabled subscription its oldest `per_subscription.least` pending deliveries due by `now`,
/// or for a subscription listed in `per_subscription.paced` (id, most) that many (so that instances draining one
/// subscription's backlog share it: [`super::Engine::claim_per_subscription`]), by an ordered scan of
/// `idx_deliveries_pending` (dead entries get marked as the scan passes, and a paused
/// subscription's backlog is never read), plus retries due by `overdue`
/// (`idx_deliveries_retrying`), each locked skipping locked rows; the oldest `limit` of those
/// are claimed. (Locking is not allowed under UNION, hence the CTEs.) The claimed rows come
/// back with their subscriptions, saving a round trip on the way to a first attempt.
pub(super) async fn claim_due(
    pool: &sqlx::PgPool,
    limit: i64,
    per_subscription: &super::queue::PerSubscription,
    busy: &[i64],
    now: DateTime<Utc>,
    overdue: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<(Vec<delivery::Model>, Vec<ws::Model>), DbErr> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        format!(
            "WITH pending AS (\
               SELECT p.id FROM webhook_subscriptions s CROSS JOIN LATERAL (\
                 SELECT d.id FROM deliveries d \
                 WHERE d.subscription_id = s.id AND d.status = 'PENDING' AND d.next_attempt_at <= $3 \
                   AND (d.claimed_until IS NULL OR d.claimed_until < $3) \
                 ORDER BY d.id LIMIT coalesce(\
                   (SELECT u.n FROM unnest($8::bigint[], $9::bigint[]) AS u(s, n) WHERE u.s = s.id), $7) \
                 FOR UPDATE SKIP LOCKED) p \
               WHERE s.state = 'ENABLED' AND s.id <> ALL($6::bigint[])), \
             overdue AS (\
               SELECT d.id FROM deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id \
               WHERE d.status = 'RETRYING' AND d.next_attempt_at <= $4 AND s.state = 'ENABLED' \
                 AND s.id <> ALL($6::bigint[]) \
                 AND (d.claimed_until IS NULL OR d.claimed_until < $3) \
               ORDER BY d.id LIMIT $5 FOR UPDATE OF d SKIP LOCKED) \
             UPDATE deliveries AS u SET claimed_until = $1, updated_at = $2 \
             FROM webhook_subscriptions s WHERE s.id = u.subscription_id AND u.id IN (\
               SELECT id FROM (SELECT id FROM pending UNION ALL SELECT id FROM overdue) c \
               ORDER BY id LIMIT $5) \
             RETURNING u.*, {}",
            super::subscription_columns()
        )
    });
    let (paced_ids, paced_most): (Vec<i64>, Vec<i64>) =
        per_subscription.paced.iter().copied().unzip();
    let raw = sqlx::query(sql.as_str())
        .bind(lease_until)
        .bind(now)
        .bind(now)
        .bind(overdue)
        .bind(limit)
        .bind(busy)
        .bind(per_subscription.least)
        .bind(paced_ids)
        .bind(paced_most)
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    let mut rows = Vec::with_capacity(raw.len());
    let mut subs: HashMap<i64, ws::Model> = HashMap::new();
    for r in raw {
        let r = QueryResult::from(r);
        let d = delivery::Model::from_query_result(&r, "")?;
        if let std::collections::hash_map::Entry::Vacant(v) = subs.entry(d.subscription_id) {
            v.insert(ws::Model::from_query_result(&r, "s_")?);
        }
        rows.push(d);
    }
    Ok((rows, subs.into_values().collect()))
}

/// Clears the leases of `ds` that are still as they were taken (a lease that ran out and was
/// taken by another instance stays with it); returns how many were cleared.
pub(super) async fn release_claims(
    pool: &sqlx::PgPool,
    ds: &[delivery::Model],
) -> Result<u64, DbErr> {
    let (ids, leases): (Vec<i64>, Vec<Option<DateTime<Utc>>>) =
        ds.iter().map(|d| (d.id, d.claimed_until)).unzip();
    let done = sqlx::query(
        "UPDATE deliveries AS d SET claimed_until = NULL \
         FROM unnest($1::bigint[], $2::timestamptz[]) AS v(id, lease) \
         WHERE d.id = v.id AND d.claimed_until = v.lease",
    )
    .bind(ids)
    .bind(leases)
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(done.rows_affected())
}

/// Advisory lock key that lets one instance at a time refresh statistics.
const ANALYZE_LOCK: i64 = 0x5357_4241_4e41_4c59; // "SWBANALY"

/// Analyzes the one table of this schema whose statistics are the most overdue, if any is:
/// changed by more than 1,000 rows plus a share of the rows it had at its last ANALYZE (a tenth
/// for `deliveries`, once its size for the others), and not analyzed in the last 30 s. Returns
/// the table analyzed.
///
/// Where autovacuum runs it has usually done this already and nothing happens; where it is off,
/// the claim's plan would otherwise be made without statistics: a bitmap scan and sort of a
/// subscription's whole backlog instead of an ordered walk of its first rows (measured mid-drain
/// of a 100,000 backlog, never analyzed: 500 ms per claim; analyzed: 38 ms). That plan depends
/// on how `deliveries` splits into statuses, which a backlog or a drain changes quickly, hence
/// its tenth (autoanalyze's own threshold). The other tables' plans depend on their sizes, which
/// the planner scales from their current pages anyway, and on distributions that stay alike as
/// they grow, so they are analyzed when never analyzed before and then each time they doubled.
///
/// One table per call, and one instance at a time (an advisory lock): on 2 cores an ANALYZE
/// takes its core for a while, and the API waits for the other one. All five hot tables in one
/// go took 96–122 ms and the slowest first deliveries (39–44 ms) came during it; `deliveries`
/// alone took 27–38 ms (1 subscription, 500 events/s: p99 8.3, 6.5 ms against 6.1, 5.8 ms, the
/// slowest 16–32 ms).
pub(super) async fn analyze_stale_table(pool: &sqlx::PgPool) -> Result<Option<String>, DbErr> {
    // `reltuples` is what the last ANALYZE (or VACUUM) counted, -1 when never analyzed.
    let stale: Option<(String, String)> = sqlx::query_as(
        "SELECT s.relname::text, format('ANALYZE %I.%I', s.schemaname, s.relname) \
         FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
         CROSS JOIN LATERAL (SELECT 1000 + CASE WHEN s.relname = 'deliveries' THEN 0.1 ELSE 1.0 END \
                                * greatest(c.reltuples, 0) AS threshold) t \
         WHERE s.schemaname = current_schema() \
           AND s.n_mod_since_analyze > t.threshold \
           AND coalesce(greatest(s.last_analyze, s.last_autoanalyze), 'epoch') < now() - interval '30 seconds' \
         ORDER BY s.n_mod_since_analyze / t.threshold DESC \
         LIMIT 1",
    )
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    let Some((table, statement)) = stale else {
        return Ok(None);
    };
    let mut txn = pool.begin().await.map_err(db_err)?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(ANALYZE_LOCK)
        .fetch_one(&mut *txn)
        .await
        .map_err(db_err)?;
    if !locked {
        return Ok(None);
    }
    // A sample of 3,000 rows (300 x the target) instead of 30,000: enough for what the
    // claim's plan needs (how many rows, how their few statuses and subscriptions spread), and
    // a tenth of the CPU.
    sqlx::query("SET LOCAL default_statistics_target = 10")
        .execute(&mut *txn)
        .await
        .map_err(db_err)?;
    // Built by format(%I), which quotes the names.
    sqlx::query(sqlx::AssertSqlSafe(statement))
        .execute(&mut *txn)
        .await
        .map_err(db_err)?;
    txn.commit().await.map_err(db_err)?;
    Ok(Some(table))
}

/// Whether the server runs autovacuum (off, dead rows are never reclaimed unless someone
/// vacuums).
pub(super) async fn autovacuum_on(pool: &sqlx::PgPool) -> Result<bool, DbErr> {
    let setting: String = sqlx::query_scalar("SELECT current_setting('autovacuum')")
        .fetch_one(pool)
        .await
        .map_err(db_err)?;
    Ok(setting == "on")
}
