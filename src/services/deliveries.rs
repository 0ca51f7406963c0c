//! Deliveries and their attempts, for operators: list and filter, retry one, recover all
//! failed since a time, send a test ping, rotate a subscription's secret.

use chrono::{DateTime, Utc};
use entity::{
    delivery, delivery_attempt,
    enums::{DeliveryStatus, SubscriptionState},
    event, webhook_subscription as ws,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
    sea_query::Expr,
};

use super::{Page, PageOf, load_owned, load_owned_admin, paginate, require_role_admin};
use crate::{
    auth::Principal,
    crypto,
    delivery::{Engine, active_secrets, attempt, record_batch, schedule::Outcome},
    error::{Error, Result},
};

#[derive(Default)]
pub struct DeliveryFilter {
    pub subscription_id: Option<i64>,
    pub status: Option<DeliveryStatus>,
    pub event: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Newest first (the cursor then pages towards older rows).
    pub newest_first: bool,
}

/// Deliveries of an account (administrators only), oldest first unless asked otherwise.
pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    account_id: i64,
    f: DeliveryFilter,
    page: Page,
) -> Result<PageOf<delivery::Model>> {
    principal.require_admin(account_id)?;
    let mut q = delivery::Entity::find().filter(delivery::Column::AccountId.eq(account_id));
    if let Some(s) = f.subscription_id {
        q = q.filter(delivery::Column::SubscriptionId.eq(s));
    }
    if let Some(s) = f.status {
        q = q.filter(delivery::Column::Status.eq(s));
    }
    if let Some(e) = f.event {
        q = q.filter(delivery::Column::EventType.eq(e));
    }
    if let Some(t) = f.since {
        q = q.filter(delivery::Column::CreatedAt.gte(t));
    }
    if let Some(t) = f.until {
        q = q.filter(delivery::Column::CreatedAt.lt(t));
    }
    super::paginate_ordered(db, q, delivery::Column::Id, page, f.newest_first).await
}

pub async fn get(
    db: &DatabaseConnection,
    principal: &Principal,
    id: i64,
) -> Result<delivery::Model> {
    let (d, role) = load_owned::<delivery::Entity, _>(db, principal, id, "delivery", None).await?;
    require_role_admin(role)?;
    Ok(d)
}

pub async fn attempts(
    db: &DatabaseConnection,
    delivery_id: i64,
    page: Page,
) -> Result<PageOf<delivery_attempt::Model>> {
    let q = delivery_attempt::Entity::find()
        .filter(delivery_attempt::Column::DeliveryId.eq(delivery_id));
    paginate(db, q, delivery_attempt::Column::Id, page).await
}

pub async fn attempt_get(
    db: &DatabaseConnection,
    principal: &Principal,
    id: i64,
) -> Result<delivery_attempt::Model> {
    let (a, role) =
        load_owned::<delivery_attempt::Entity, _>(db, principal, id, "delivery attempt", None)
            .await?;
    require_role_admin(role)?;
    Ok(a)
}

/// Puts a delivery back in the queue for one attempt now (whatever its state). If that attempt
/// fails and the retry budget is spent, it fails again without further retries.
pub async fn retry(
    db: &DatabaseConnection,
    principal: &Principal,
    id: i64,
) -> Result<delivery::Model> {
    let d =
        load_owned_admin::<delivery::Entity, _>(db, principal, id, "delivery", Some("id")).await?;
    let sub = ws::Entity::find_by_id(d.subscription_id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found_in("delivery", "id"))?;
    if sub.state == SubscriptionState::Disabled {
        return Err(Error::invalid(
            "id",
            "NOT_ALLOWED",
            "its subscription is disabled; enable it first",
        ));
    }
    let mut am: delivery::ActiveModel = d.into();
    am.status = Set(DeliveryStatus::Pending);
    am.next_attempt_at = Set(Some(Utc::now()));
    am.claimed_until = Set(None);
    am.completed_at = Set(None);
    Ok(am.update(db).await?)
}

/// Re-queues every FAILED delivery of a subscription created since `since`. Returns how many.
pub async fn recover(
    db: &DatabaseConnection,
    principal: &Principal,
    subscription_id: i64,
    since: DateTime<Utc>,
) -> Result<u64> {
    let sub = load_owned_admin::<ws::Entity, _>(
        db,
        principal,
        subscription_id,
        "webhook subscription",
        Some("id"),
    )
    .await?;
    if sub.state == SubscriptionState::Disabled {
        return Err(Error::invalid(
            "id",
            "NOT_ALLOWED",
            "the subscription is disabled; enable it first",
        ));
    }
    let r = delivery::Entity::update_many()
        .col_expr(
            delivery::Column::Status,
            Expr::value(DeliveryStatus::Pending.as_str()),
        )
        .col_expr(delivery::Column::NextAttemptAt, Expr::value(Utc::now()))
        .col_expr(
            delivery::Column::ClaimedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            delivery::Column::CompletedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(delivery::Column::SubscriptionId.eq(subscription_id))
        .filter(delivery::Column::Status.eq(DeliveryStatus::Failed.as_str()))
        .filter(delivery::Column::CreatedAt.gte(since))
        .exec(db)
        .await?;
    Ok(r.rows_affected)
}

/// On resume, retries that fell due while paused go out first, in order, through the dispatcher.
pub async fn release_paused(db: &DatabaseConnection, subscription_id: i64) -> Result<()> {
    delivery::Entity::update_many()
        .col_expr(
            delivery::Column::Status,
            Expr::value(DeliveryStatus::Pending.as_str()),
        )
        .filter(delivery::Column::SubscriptionId.eq(subscription_id))
        .filter(delivery::Column::Status.eq(DeliveryStatus::Retrying.as_str()))
        .filter(delivery::Column::NextAttemptAt.lte(Utc::now()))
        .exec(db)
        .await?;
    Ok(())
}

/// Sends a signed `webhook_test` ping now and returns its attempt (no retries).
pub async fn test(
    engine: &Engine,
    principal: &Principal,
    subscription_id: i64,
) -> Result<delivery_attempt::Model> {
    let db = &engine.db;
    let sub = load_owned_admin::<ws::Entity, _>(
        db,
        principal,
        subscription_id,
        "webhook subscription",
        Some("id"),
    )
    .await?;
    let now = Utc::now();
    let body = serde_json::json!({
        "type": "webhook_test",
        "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": {"subscription_id": sub.id, "account_id": sub.account_id, "message": "Switchboard test ping"},
    });
    let txn = crate::db::begin_write(db).await?;
    let ev = event::ActiveModel {
        account_id: Set(sub.account_id),
        event_type: Set("webhook_test".into()),
        channel_id: Set(None),
        inbox_id: Set(None),
        payload: Set(serde_json::json!({})),
        dispatched_at: Set(Some(now)),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let d = delivery::ActiveModel {
        account_id: Set(sub.account_id),
        event_id: Set(ev.id),
        subscription_id: Set(sub.id),
        event_type: Set("webhook_test".into()),
        webhook_id: Set(format!("msg_{}", crypto::random_token(16))),
        status: Set(DeliveryStatus::Pending),
        attempt_count: Set(0),
        next_attempt_at: Set(None),
        claimed_until: Set(Some(now + chrono::Duration::minutes(5))),
        payload: Set(body.to_string()),
        last_response_status: Set(None),
        last_error: Set(None),
        completed_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    let secrets = active_secrets(engine.keys(), &sub).map_err(Error::Internal)?;
    let mut rec = attempt(engine, &sub, &secrets, d).await;
    if matches!(rec.outcome, Outcome::Retry { .. }) {
        rec.outcome = Outcome::Failed;
    }
    let delivery_id = rec.delivery.id;
    record_batch(engine, std::slice::from_ref(&rec))
        .await
        .map_err(Error::Internal)?;
    delivery_attempt::Entity::find()
        .filter(delivery_attempt::Column::DeliveryId.eq(delivery_id))
        .one(db)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("test attempt not recorded")))
}

/// A new signing secret; the previous one keeps signing for 24 hours. Returns the new secret.
pub async fn rotate_secret(
    db: &DatabaseConnection,
    keys: &crate::crypto::Keys,
    principal: &Principal,
    id: i64,
) -> Result<(ws::Model, String)> {
    let sub =
        load_owned_admin::<ws::Entity, _>(db, principal, id, "webhook subscription", Some("id"))
            .await?;
    let secret = crypto::new_webhook_secret();
    let previous = sub.secret_encrypted.clone();
    let mut am: ws::ActiveModel = sub.into();
    am.previous_secret_encrypted = Set(Some(previous));
    am.previous_secret_expires_at = Set(Some(Utc::now() + chrono::Duration::hours(24)));
    am.secret_encrypted = Set(keys.encrypt(&secret));
    Ok((am.update(db).await?, secret))
}
