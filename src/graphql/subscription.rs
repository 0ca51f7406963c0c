//! GraphQL subscriptions: the live delivery log.

use async_graphql::{Context, ID, InputObject, Result, Subscription};
use futures::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::{
    enums::DeliveryStatus,
    helpers::{principal, state},
    ids,
    types::DeliveryAttempt,
};

#[derive(InputObject, Default)]
pub struct DeliveryAttemptFilter {
    /// Only this account's attempts (you must administer it).
    pub account_id: Option<ID>,
    pub subscription_id: Option<ID>,
    /// The delivery's status after the attempt.
    pub status: Option<DeliveryStatus>,
    /// Event name, e.g. `message_created`.
    pub event: Option<String>,
}

pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// Every delivery attempt as it is logged, in the accounts you administer. A subscriber
    /// that falls more than 1,024 attempts behind skips the ones it missed (they stay in
    /// `deliveries`) rather than buffer without bound.
    async fn delivery_attempts(
        &self,
        ctx: &Context<'_>,
        filter: Option<DeliveryAttemptFilter>,
    ) -> Result<impl Stream<Item = DeliveryAttempt> + use<>> {
        let who = principal(ctx).clone();
        who.require_authenticated()?;
        let f = filter.unwrap_or_default();
        let account = f
            .account_id
            .as_ref()
            .map(|a| ids::decode(a, "Account", "accountId"))
            .transpose()?;
        if let Some(a) = account {
            who.require_admin(a)?;
        }
        let sub = f
            .subscription_id
            .as_ref()
            .map(|s| ids::decode(s, "WebhookSubscription", "subscriptionId"))
            .transpose()?;
        let status: Option<entity::enums::DeliveryStatus> = f.status.map(Into::into);
        let event = f.event;
        // Platform administrators count as ADMINISTRATOR everywhere (`role_in`).
        let admin_of = move |acc: i64| who.role_in(acc) == Some(entity::enums::Role::Administrator);
        let engine = &state(ctx).engine;
        let rx = engine.live.subscribe();
        // On PostgreSQL: have every instance announce its attempts from now on.
        engine.watchers_changed.notify_one();
        let items = futures::stream::unfold(rx, |mut rx| async move {
            match rx.recv().await {
                Ok(l) => Some((Ok(l), rx)),
                Err(RecvError::Lagged(n)) => Some((Err(n), rx)),
                Err(RecvError::Closed) => None,
            }
        });
        Ok(items.filter_map(move |item| {
            let keep = match &item {
                Ok(l) => {
                    account.is_none_or(|a| a == l.attempt.account_id)
                        && sub.is_none_or(|s| s == l.attempt.subscription_id)
                        && status.is_none_or(|s| s == l.status)
                        && event.as_deref().is_none_or(|e| e == l.event_type)
                        && admin_of(l.attempt.account_id)
                }
                Err(n) => {
                    tracing::warn!(missed = n, "a live delivery-log subscriber lagged");
                    false
                }
            };
            let out = match item {
                Ok(l) if keep => Some(DeliveryAttempt(l.attempt)),
                _ => None,
            };
            async move { out }
        }))
    }
}
