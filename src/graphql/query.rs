use async_graphql::{Context, ID, Object, Result, SimpleObject, connection::Connection};

use super::{
    conn,
    helpers::{principal, state},
    ids,
    types::*,
};
use crate::services::{self, Page};

pub struct QueryRoot;

/// What the console needs before anyone has logged in.
#[derive(SimpleObject)]
pub struct SetupStatus {
    /// True until the first platform administrator exists.
    pub needs_first_admin: bool,
    pub version: &'static str,
}

#[Object]
impl QueryRoot {
    /// Any object by its global id; null when it does not exist or is not yours to see.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        let (st, who) = (state(ctx), principal(ctx));
        who.require_authenticated()?;
        let Some((kind, n)) = ids::parse(&id) else {
            return Ok(None);
        };
        let db = &st.db;
        let found = match kind {
            "Account" => services::accounts::get(db, who, n)
                .await
                .map(|m| Node::Account(Account(m))),
            "User" => services::users::get(db, who, n)
                .await
                .map(|m| Node::User(User(m))),
            "Channel" => services::channels::get(db, who, n)
                .await
                .map(|m| Node::Channel(Channel(m))),
            "Inbox" => services::inboxes::get(db, who, n)
                .await
                .map(|m| Node::Inbox(Inbox(m))),
            "Contact" => services::contacts::get(db, who, n)
                .await
                .map(|m| Node::Contact(Contact(m))),
            "Conversation" => services::conversations::get(db, who, n)
                .await
                .map(|m| Node::Conversation(Conversation(m))),
            "Message" => services::messages::get(db, who, n)
                .await
                .map(|m| Node::Message(Message(m))),
            "WebhookSubscription" => services::webhook_subscriptions::get(db, who, n)
                .await
                .map(|m| Node::WebhookSubscription(WebhookSubscription(m))),
            "BotConnection" => services::bot_connections::get(db, who, n)
                .await
                .map(|m| Node::BotConnection(BotConnection(m))),
            "Story" => services::stories::get(db, who, n)
                .await
                .map(|m| Node::Story(Story(m))),
            "Partner" => services::partners::get(db, who, n)
                .await
                .map(|m| Node::Partner(Partner(m))),
            "Delivery" => services::deliveries::get(db, who, n)
                .await
                .map(|m| Node::Delivery(Delivery(m))),
            "DeliveryAttempt" => services::deliveries::attempt_get(db, who, n)
                .await
                .map(|m| Node::DeliveryAttempt(DeliveryAttempt(m))),
            _ => return Ok(None),
        };
        match found {
            Ok(n) => Ok(Some(n)),
            Err(crate::error::Error::NotFound { .. }) | Err(crate::error::Error::Forbidden(_)) => {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn viewer(&self, ctx: &Context<'_>) -> Result<Viewer> {
        principal(ctx).require_authenticated()?;
        Ok(Viewer)
    }

    /// Accounts the caller can see (all of them for platform administrators).
    async fn accounts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Account>> {
        let page = Page::new(first, ids::parse_cursor(after.as_deref())?)?;
        let p = services::accounts::list(&state(ctx).db, principal(ctx), page).await?;
        Ok(conn(p, |m| m.id, Account))
    }

    /// One account; `NOT_FOUND` when it does not exist or is not yours.
    async fn account(&self, ctx: &Context<'_>, id: ID) -> Result<Account> {
        principal(ctx).require_authenticated()?;
        let id = ids::decode_arg(&id, "Account")?;
        Ok(Account(
            services::accounts::get(&state(ctx).db, principal(ctx), id).await?,
        ))
    }

    /// Open to anonymous callers.
    async fn setup_status(&self, ctx: &Context<'_>) -> Result<SetupStatus> {
        let has = services::users::has_platform_admin(&state(ctx).db).await?;
        Ok(SetupStatus {
            needs_first_admin: !has,
            version: env!("CARGO_PKG_VERSION"),
        })
    }
}
