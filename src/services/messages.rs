//! Messages in a conversation. Creating one also moves the conversation's last message and,
//! for incoming ones, its unread count, in the same transaction.

use std::sync::Arc;

use chrono::{DurationRound, Utc};
use entity::{
    conversation,
    enums::{ContentType, ConversationStatus, MessageDeliveryStatus, MessageType, SenderType},
    message,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
    sea_query::{Expr, ExprTrait},
};

use super::{Page, PageOf, load_owned, load_owned_admin, paginate};
use crate::{
    auth::Principal,
    delivery::Engine,
    domain::{CONTENT_MAX, Checks},
    error::{Error, Result},
    events::{data as outbox_data, outbox},
};

pub struct NewMessage {
    pub conversation_id: i64,
    pub message_type: Option<MessageType>,
    pub sender_type: Option<SenderType>,
    pub sender_id: Option<i64>,
    pub content: Option<String>,
    pub content_type: Option<ContentType>,
    pub media_url: Option<String>,
    pub source_id: Option<String>,
    pub external_id: Option<String>,
    pub private: bool,
    pub content_attributes: Option<serde_json::Value>,
}

#[derive(Default)]
pub struct MessageFields {
    pub content: Option<Option<String>>,
    pub delivery_status: Option<MessageDeliveryStatus>,
    pub external_id: Option<Option<String>>,
    pub content_attributes: Option<serde_json::Value>,
    pub private: Option<bool>,
}

fn rank(s: MessageDeliveryStatus) -> u8 {
    match s {
        MessageDeliveryStatus::Sent => 0,
        MessageDeliveryStatus::Delivered => 1,
        MessageDeliveryStatus::Read => 2,
        MessageDeliveryStatus::Failed => 3,
    }
}

/// Delivery status only moves forward: SENT → DELIVERED → READ; FAILED from SENT or DELIVERED.
pub fn status_change_allowed(from: MessageDeliveryStatus, to: MessageDeliveryStatus) -> bool {
    use MessageDeliveryStatus::*;
    from == to
        || match to {
            Failed => from != Read,
            _ => from != Failed && rank(to) > rank(from),
        }
}

pub async fn create(
    engine: &Arc<Engine>,
    principal: &Principal,
    input: NewMessage,
) -> Result<message::Model> {
    let db = &engine.db;
    // The conversation and the event's context in one read (on PostgreSQL, with what the
    // one-statement write needs); then the same checks as `load_owned`.
    principal.require_authenticated()?;
    let nf = || Error::not_found_in("conversation", "conversationId");
    // Stored with microseconds: the payloads carry the value as stored. Taken before the
    // subscriptions are read, so one created after the read is also created after the event.
    let now = Utc::now()
        .duration_trunc(chrono::Duration::microseconds(1))
        .unwrap_or_else(|_| Utc::now());
    // On PostgreSQL, this instance writes one message per conversation at a time (see
    // `Engine::conversation_turn`), from its read to its one-statement write.
    let turn = match engine.is_postgres() {
        true => Some(engine.conversation_turn(input.conversation_id).await),
        false => None,
    };
    let (conv, mut data, ids) = if engine.is_postgres() {
        let (conv, data, ids) = outbox::message_context(db, input.conversation_id)
            .await?
            .ok_or_else(nf)?;
        (conv, data, Some(ids))
    } else {
        let (conv, data) = outbox::conversation_context(db, input.conversation_id)
            .await?
            .ok_or_else(nf)?;
        (conv, data, None)
    };
    principal.role_in(conv.account_id).ok_or_else(nf)?;
    let mut c = Checks::new();
    let message_type = input.message_type.unwrap_or(MessageType::Outgoing);
    let content_type = input.content_type.unwrap_or(ContentType::Text);
    let content = input.content.filter(|s| !s.trim().is_empty());
    if let Some(s) = &content
        && s.len() > CONTENT_MAX
    {
        c.push(
            "content",
            "TOO_LONG",
            format!("is larger than {CONTENT_MAX} bytes"),
        );
    }
    let media_url = c.url("mediaUrl", input.media_url.as_deref());
    if content.is_none() && media_url.is_none() && content_type == ContentType::Text {
        c.push("content", "BLANK", "a text message needs content");
    }
    if content_type != ContentType::Text
        && matches!(
            content_type,
            ContentType::Image | ContentType::Video | ContentType::Document | ContentType::Audio
        )
        && media_url.is_none()
    {
        c.push("mediaUrl", "BLANK", "a media message needs mediaUrl");
    }
    let source_id = c.optional("sourceId", input.source_id.as_deref(), 255);
    let external_id = c.optional("externalId", input.external_id.as_deref(), 255);
    let attrs = input
        .content_attributes
        .unwrap_or_else(|| serde_json::json!({}));
    c.json_object("contentAttributes", &attrs);
    let sender_type = input.sender_type.unwrap_or(match message_type {
        MessageType::Incoming => SenderType::Contact,
        _ if principal.user_id().is_some() => SenderType::User,
        _ => SenderType::Bot,
    });
    let sender_id = match sender_type {
        SenderType::Contact => {
            if input.sender_id.is_some_and(|s| s != conv.contact_id) {
                c.push(
                    "senderId",
                    "INVALID",
                    "a contact sender must be the conversation's contact",
                );
            }
            Some(conv.contact_id)
        }
        SenderType::User => input.sender_id.or(principal.user_id()),
        SenderType::Bot => input.sender_id,
    };
    if sender_type == SenderType::User && sender_id.is_none() {
        c.push(
            "senderId",
            "BLANK",
            "a USER sender needs senderId when an API token sends",
        );
    }
    c.finish()?;
    if sender_type == SenderType::User
        && let Some(uid) = sender_id
        && !super::is_member(db, conv.account_id, uid).await?
        && principal.user_id() != Some(uid)
    {
        return Err(Error::not_found_in(
            "sender (a member of the account)",
            "senderId",
        ));
    }
    // The event's context was read before writing: inside the transaction, the conversation
    // row stays locked from its update to the commit.
    let sender_user = match (sender_type, sender_id) {
        (SenderType::User, Some(uid)) => entity::user::Entity::find_by_id(uid)
            .one(db)
            .await?
            .as_ref()
            .map(outbox::user_snap),
        _ => None,
    };
    data.sender_user = sender_user.clone();
    let msg = message::Model {
        id: 0,
        account_id: conv.account_id,
        conversation_id: conv.id,
        sender_type,
        sender_id,
        message_type,
        content,
        content_type,
        media_url,
        source_id,
        external_id,
        delivery_status: MessageDeliveryStatus::Sent,
        private: input.private,
        content_attributes: attrs,
        created_at: now,
        updated_at: now,
    };
    // An incoming message while the bot handles the conversation goes to the inbox's bot
    // (seed 004), through the outbox like every event: that takes the transaction below.
    let to_bot = |conv: &conversation::Model| {
        message_type == MessageType::Incoming && conv.status == ConversationStatus::Pending
    };
    let (conv, data) = match ids {
        Some(ids) if !to_bot(&conv) => {
            let msg = message::Model {
                id: ids.message_id,
                ..msg.clone()
            };
            // Its deliveries are claimed for this instance as they are written.
            let claimed = engine.claiming();
            if crate::delivery::write_message(engine, &conv, data, &msg, ids, claimed)
                .await?
                .is_some()
            {
                metrics::counter!("message_writes_total", "path" => "one_statement").increment(1);
                return Ok(msg);
            }
            drop(turn);
            // The conversation changed since it was read: the transaction, from a new read.
            let (conv, mut data) = outbox::conversation_context(db, conv.id)
                .await?
                .ok_or_else(nf)?;
            data.sender_user = sender_user;
            (conv, data)
        }
        _ => {
            drop(turn);
            (conv, data)
        }
    };
    let mut claimed = engine.claiming();
    let txn = crate::db::begin_write(db).await?;
    let mut am: message::ActiveModel = msg.into();
    am.id = sea_orm::ActiveValue::NotSet;
    let bot_context = to_bot(&conv).then(|| data.clone());
    let (msg, conv_after) = insert_in(&txn, &conv, data, am, claimed.as_mut()).await?;
    if let Some(mut data) = bot_context {
        let bot = entity::inbox::Entity::find_by_id(conv.inbox_id)
            .one(&txn)
            .await?
            .and_then(|i| i.bot_connection_id);
        if let Some(connection) = bot {
            outbox::put_new_message(&mut data, &conv_after, &msg);
            let route = outbox::Route {
                inbox_id: Some(conv.inbox_id),
                bot_connection_id: Some(connection),
                ..Default::default()
            };
            outbox::record_routed(
                &txn,
                crate::bots::context::EVENT,
                data,
                route,
                claimed.as_mut(),
            )
            .await?;
        }
    }
    crate::delivery::commit_and_hand_over(engine, txn, claimed).await?;
    metrics::counter!("message_writes_total", "path" => "transaction").increment(1);
    Ok(msg)
}

/// Inserts a message inside `txn`, moves the conversation's last message (and, for incoming
/// messages, its unread count) and records `message_created` with `data` as the context.
/// Returns the message and the conversation after the change.
pub async fn insert_in<C: sea_orm::ConnectionTrait>(
    txn: &C,
    conv: &conversation::Model,
    mut data: outbox_data::EventData,
    am: message::ActiveModel,
    claim: Option<&mut crate::delivery::Claimed>,
) -> Result<(message::Model, conversation::Model)> {
    let msg = am.insert(txn).await?;
    let message_type = msg.message_type;
    let mut upd = conversation::Entity::update_many()
        .col_expr(conversation::Column::LastMessageId, Expr::value(msg.id))
        .col_expr(
            conversation::Column::LastMessageAt,
            Expr::value(msg.created_at),
        )
        .col_expr(conversation::Column::UpdatedAt, Expr::value(Utc::now()));
    if message_type == MessageType::Incoming {
        upd = upd.col_expr(
            conversation::Column::UnreadCount,
            Expr::col(conversation::Column::UnreadCount).add(1),
        );
    }
    let updated = upd
        .filter(conversation::Column::Id.eq(conv.id))
        .exec_with_returning(txn)
        .await?;
    let conv_after = updated
        .into_iter()
        .next()
        .ok_or_else(|| Error::not_found_in("conversation", "conversationId"))?;
    outbox::put_new_message(&mut data, &conv_after, &msg);
    outbox::record_claiming(txn, "message_created", data, claim).await?;
    Ok((msg, conv_after))
}

pub async fn update(
    engine: &Arc<Engine>,
    principal: &Principal,
    id: i64,
    f: MessageFields,
) -> Result<message::Model> {
    let db = &engine.db;
    let (msg, _) =
        load_owned::<message::Entity, _>(db, principal, id, "message", Some("id")).await?;
    let mut c = Checks::new();
    if let Some(to) = f.delivery_status
        && !status_change_allowed(msg.delivery_status, to)
    {
        c.push(
            "deliveryStatus",
            "INVALID",
            format!(
                "cannot go from {} to {}",
                msg.delivery_status.as_str(),
                to.as_str()
            ),
        );
    }
    let previous_status = msg.delivery_status;
    let mut am: message::ActiveModel = msg.into();
    if let Some(v) = f.content {
        if let Some(s) = &v
            && s.len() > CONTENT_MAX
        {
            c.push(
                "content",
                "TOO_LONG",
                format!("is larger than {CONTENT_MAX} bytes"),
            );
        }
        am.content = Set(v);
    }
    if let Some(s) = f.delivery_status {
        am.delivery_status = Set(s);
    }
    if let Some(v) = f.external_id {
        am.external_id = Set(c.optional("externalId", v.as_deref(), 255));
    }
    if let Some(v) = f.content_attributes {
        c.json_object("contentAttributes", &v);
        am.content_attributes = Set(v);
    }
    if let Some(p) = f.private {
        am.private = Set(p);
    }
    c.finish()?;
    let mut claimed = engine.claiming();
    let txn = crate::db::begin_write(db).await?;
    let msg = am.update(&txn).await?;
    let mut data = outbox::for_message(&txn, &msg).await?;
    if msg.delivery_status != previous_status {
        data.previous_delivery_status = Some(previous_status.as_str().to_string());
    }
    outbox::record_claiming(&txn, "message_updated", data, claimed.as_mut()).await?;
    crate::delivery::commit_and_hand_over(engine, txn, claimed).await?;
    Ok(msg)
}

pub async fn delete(db: &DatabaseConnection, principal: &Principal, id: i64) -> Result<()> {
    load_owned_admin::<message::Entity, _>(db, principal, id, "message", Some("id")).await?;
    message::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

pub async fn get(
    db: &DatabaseConnection,
    principal: &Principal,
    id: i64,
) -> Result<message::Model> {
    Ok(
        load_owned::<message::Entity, _>(db, principal, id, "message", None)
            .await?
            .0,
    )
}

pub async fn list(
    db: &DatabaseConnection,
    principal: &Principal,
    conversation_id: i64,
    page: Page,
) -> Result<PageOf<message::Model>> {
    load_owned::<conversation::Entity, _>(db, principal, conversation_id, "conversation", None)
        .await?;
    let q = message::Entity::find().filter(message::Column::ConversationId.eq(conversation_id));
    paginate(db, q, message::Column::Id, page).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use MessageDeliveryStatus::*;

    #[test]
    fn delivery_status_only_moves_forward() {
        assert!(status_change_allowed(Sent, Delivered));
        assert!(status_change_allowed(Delivered, Read));
        assert!(status_change_allowed(Sent, Read));
        assert!(status_change_allowed(Sent, Failed));
        assert!(!status_change_allowed(Read, Delivered));
        assert!(!status_change_allowed(Read, Failed));
        assert!(!status_change_allowed(Failed, Delivered));
    }
}
