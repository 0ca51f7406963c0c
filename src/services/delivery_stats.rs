//! Attempt counts and latency per time bucket, for the console's charts: one aggregate query,
//! the same SQL on SQLite and PostgreSQL except for how a timestamp becomes a bucket number.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};

use crate::{
    auth::Principal,
    error::{Error, Result},
};

/// Longest window and most buckets one query may ask for.
pub const MAX_MINUTES: i64 = 24 * 60;
pub const MAX_BUCKETS: i64 = 1440;

/// Attempts that ended in one bucket, by what they meant for their delivery.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    /// 2xx answers.
    pub succeeded: i64,
    /// Failed attempts after which another is scheduled.
    pub retrying: i64,
    /// Failed attempts that were the delivery's last (retries spent, 410, disabled…).
    pub failed: i64,
    /// Mean and maximum attempt duration; `None` when the bucket is empty.
    pub latency_avg_ms: Option<f64>,
    pub latency_max_ms: Option<i64>,
}

impl Bucket {
    pub fn attempts(&self) -> i64 {
        self.succeeded + self.retrying + self.failed
    }
}

#[derive(Clone, Debug)]
pub struct Stats {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub bucket_seconds: i64,
    /// Every bucket of the window, oldest first, empty ones included.
    pub buckets: Vec<Bucket>,
    /// The whole window as one bucket (`start` = `since`).
    pub total: Bucket,
}

/// Attempts of an account (optionally one subscription) over the last `minutes`, in buckets
/// of `bucket_seconds` aligned to the epoch. Administrators of the account only.
pub async fn stats(
    db: &DatabaseConnection,
    principal: &Principal,
    account_id: i64,
    subscription_id: Option<i64>,
    minutes: i64,
    bucket_seconds: i64,
) -> Result<Stats> {
    principal.require_admin(account_id)?;
    if !(1..=MAX_MINUTES).contains(&minutes) {
        return Err(Error::invalid(
            "minutes",
            "OUT_OF_RANGE",
            format!("must be between 1 and {MAX_MINUTES}"),
        ));
    }
    if !(10..=3600).contains(&bucket_seconds) {
        return Err(Error::invalid(
            "bucketSeconds",
            "OUT_OF_RANGE",
            "must be between 10 and 3600",
        ));
    }
    let now = Utc::now();
    let first = (now.timestamp() - minutes * 60).div_euclid(bucket_seconds) + 1;
    let last = now.timestamp().div_euclid(bucket_seconds);
    if last - first + 1 > MAX_BUCKETS {
        return Err(Error::invalid(
            "bucketSeconds",
            "OUT_OF_RANGE",
            format!("the window would have more than {MAX_BUCKETS} buckets; use wider buckets"),
        ));
    }
    let since = at(first * bucket_seconds);
    let backend = db.get_database_backend();
    let pg = backend == DatabaseBackend::Postgres;
    let p = |i: usize| if pg { format!("${i}") } else { "?".into() };
    let bucket = if pg {
        format!(
            "CAST(FLOOR(EXTRACT(EPOCH FROM created_at) / {}) AS BIGINT)",
            p(1)
        )
    } else {
        format!("(CAST(strftime('%s', created_at) AS INTEGER) / {})", p(1))
    };
    let mut values: Vec<sea_orm::Value> =
        vec![bucket_seconds.into(), account_id.into(), since.into()];
    let by_sub = match subscription_id {
        Some(s) => {
            values.push(s.into());
            format!(" AND subscription_id = {}", p(4))
        }
        None => String::new(),
    };
    let sql = format!(
        "SELECT {bucket} AS b, \
           CAST(SUM(CASE WHEN error_kind IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS ok, \
           CAST(SUM(CASE WHEN error_kind IS NOT NULL AND next_attempt_at IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS retrying, \
           CAST(SUM(CASE WHEN error_kind IS NOT NULL AND next_attempt_at IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS failed, \
           CAST(SUM(duration_ms) AS BIGINT) AS sum_ms, \
           CAST(MAX(duration_ms) AS BIGINT) AS max_ms \
         FROM delivery_attempts WHERE account_id = {} AND created_at >= {}{by_sub} \
         GROUP BY 1 ORDER BY 1",
        p(2),
        p(3)
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    let mut buckets: Vec<Bucket> = (first..=last)
        .map(|b| Bucket {
            start: at(b * bucket_seconds),
            ..Default::default()
        })
        .collect();
    let mut total = Bucket {
        start: since,
        ..Default::default()
    };
    let mut sums = vec![0i64; buckets.len()];
    for row in rows {
        let b: i64 = row.try_get("", "b")?;
        let max_ms: i64 = row.try_get("", "max_ms")?;
        // A clock step can put a row a bucket past `last`; count it in the last one.
        let i = (b.clamp(first, last) - first) as usize;
        sums[i] += row.try_get::<i64>("", "sum_ms")?;
        for x in [&mut buckets[i], &mut total] {
            x.succeeded += row.try_get::<i64>("", "ok")?;
            x.retrying += row.try_get::<i64>("", "retrying")?;
            x.failed += row.try_get::<i64>("", "failed")?;
            x.latency_max_ms = Some(x.latency_max_ms.map_or(max_ms, |m| m.max(max_ms)));
        }
    }
    let avg = |sum: i64, n: i64| (n > 0).then(|| sum as f64 / n as f64);
    for (x, sum) in buckets.iter_mut().zip(&sums) {
        x.latency_avg_ms = avg(*sum, x.attempts());
    }
    total.latency_avg_ms = avg(sums.iter().sum(), total.attempts());
    Ok(Stats {
        since,
        until: now,
        bucket_seconds,
        buckets,
        total,
    })
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}
