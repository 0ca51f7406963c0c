//! What a bot call's result does to the conversation, inside the transaction that records the
//! attempt (so an answer is applied exactly when its attempt is recorded).
//!
//! - A valid answer: its responses become outgoing BOT messages, in order (interactive parts in
//!   `content_attributes`), each emitting `message_created`; its attributes are merged into the
//!   conversation's custom attributes (`conversation_updated`); the connection's error clears.
//! - Anything else (invalid answer, timeout, non-2xx, refused destination): no message from
//!   the answer; the error is stored on the connection and the conversation is handed to humans
//!   (status OPEN, `conversation_status_changed`) with an ACTIVITY message saying why.
//!
//! A conversation that is no longer PENDING when the result comes back (an agent took it) is
//! left alone; the result is still logged.

use entity::{
    bot_connection, conversation,
    enums::{ContentType, ConversationStatus, MessageDeliveryStatus, MessageType, SenderType},
    message,
};
use rand::seq::IndexedRandom;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use serde_json::{Value, json};

use super::answer::{Answer, Response, ResponseKind};
use crate::{
    error::Result,
    events::outbox,
    services::{bot_connections::parse_rest_id, messages::insert_in},
};

#[derive(Debug, Clone)]
pub enum BotResult {
    Answered(Answer),
    Failed(String),
}

/// The conversation a bot call was about (its `chatId`).
pub fn conversation_of(payload: &str) -> Option<i64> {
    serde_json::from_str::<Value>(payload)
        .ok()?
        .get("chatId")?
        .as_str()
        .and_then(parse_rest_id)
}

pub async fn apply<C: ConnectionTrait>(
    txn: &C,
    connection_id: i64,
    payload: &str,
    result: BotResult,
) -> Result<()> {
    let error = match &result {
        BotResult::Answered(_) => None,
        BotResult::Failed(why) => Some(why.clone()),
    };
    if let Some(c) = bot_connection::Entity::find_by_id(connection_id)
        .one(txn)
        .await?
        && c.error != error
    {
        let mut am: bot_connection::ActiveModel = c.into();
        am.error = Set(error);
        am.update(txn).await?;
    }
    let Some(conv_id) = conversation_of(payload) else {
        return Ok(());
    };
    let Some(conv) = conversation::Entity::find_by_id(conv_id).one(txn).await? else {
        return Ok(());
    };
    if conv.status != ConversationStatus::Pending {
        return Ok(());
    }
    match result {
        BotResult::Answered(answer) => answered(txn, conv, answer).await,
        BotResult::Failed(why) => hand_over(txn, conv, &why).await,
    }
}

fn bot_message(conv: &conversation::Model, r: &Response) -> message::ActiveModel {
    let (content, content_type, media_url, attrs) = match &r.kind {
        ResponseKind::Text { message } => {
            (Some(message.clone()), ContentType::Text, None, json!({}))
        }
        ResponseKind::RandomText { messages } => {
            let pick = messages
                .choose(&mut rand::rng())
                .cloned()
                .unwrap_or_default();
            (
                Some(pick),
                ContentType::Text,
                None,
                json!({"messages": messages}),
            )
        }
        ResponseKind::Image { image_url } => {
            (None, ContentType::Image, Some(image_url.clone()), json!({}))
        }
        ResponseKind::QuickReplies { title, buttons } => (
            Some(title.clone()),
            ContentType::QuickReplies,
            None,
            json!({"buttons": buttons.iter().map(|b| b.to_json()).collect::<Vec<_>>()}),
        ),
        ResponseKind::Buttons { title, buttons } => (
            Some(title.clone()),
            ContentType::Buttons,
            None,
            json!({"buttons": buttons.iter().map(|b| b.to_json()).collect::<Vec<_>>()}),
        ),
        ResponseKind::Cards { elements } => (
            None,
            ContentType::Cards,
            None,
            json!({"elements": elements.iter().map(|c| json!({
                "title": c.title, "subtitle": c.subtitle, "imageUrl": c.image_url,
                "buttons": c.buttons.iter().map(|b| b.to_json()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>()}),
        ),
    };
    let mut attrs = attrs;
    attrs["delay"] = json!(r.delay_ms);
    from_bot(
        conv,
        MessageType::Outgoing,
        content,
        content_type,
        media_url,
        attrs,
    )
}

/// A message the bot side adds to the conversation.
fn from_bot(
    conv: &conversation::Model,
    message_type: MessageType,
    content: Option<String>,
    content_type: ContentType,
    media_url: Option<String>,
    content_attributes: Value,
) -> message::ActiveModel {
    message::ActiveModel {
        account_id: Set(conv.account_id),
        conversation_id: Set(conv.id),
        sender_type: Set(SenderType::Bot),
        sender_id: Set(None),
        message_type: Set(message_type),
        content: Set(content),
        content_type: Set(content_type),
        media_url: Set(media_url),
        source_id: Set(None),
        external_id: Set(None),
        delivery_status: Set(MessageDeliveryStatus::Sent),
        private: Set(false),
        content_attributes: Set(content_attributes),
        ..Default::default()
    }
}

async fn answered<C: ConnectionTrait>(
    txn: &C,
    mut conv: conversation::Model,
    answer: Answer,
) -> Result<()> {
    // One context read: `insert_in` replaces its conversation and message parts each time.
    if !answer.responses.is_empty() {
        let data = outbox::for_conversation(txn, &conv).await?;
        for r in &answer.responses {
            let (_, after) =
                insert_in(txn, &conv, data.clone(), bot_message(&conv, r), None).await?;
            conv = after;
        }
    }
    if !answer.attributes.is_empty() {
        let mut merged = match &conv.custom_attributes {
            Value::Object(m) => m.clone(),
            _ => serde_json::Map::new(),
        };
        for (k, v) in answer.attributes {
            merged.insert(k, v);
        }
        let before = conv.clone();
        let mut am: conversation::ActiveModel = conv.into();
        am.custom_attributes = Set(Value::Object(merged));
        let after = am.update(txn).await?;
        let changes = outbox::conversation_changes(&before, &after);
        if !changes.is_empty() {
            let mut data = outbox::for_conversation(txn, &after).await?;
            data.changes = changes;
            outbox::record(txn, "conversation_updated", data).await?;
        }
    }
    Ok(())
}

async fn hand_over<C: ConnectionTrait>(
    txn: &C,
    conv: conversation::Model,
    why: &str,
) -> Result<()> {
    let before = conv.clone();
    let mut am: conversation::ActiveModel = conv.into();
    am.status = Set(ConversationStatus::Open);
    let after = am.update(txn).await?;
    let data = outbox::for_conversation(txn, &after).await?;
    outbox::record(txn, "conversation_status_changed", data.clone()).await?;
    let mut updated = data.clone();
    updated.changes = outbox::conversation_changes(&before, &after);
    outbox::record(txn, "conversation_updated", updated).await?;
    let note = from_bot(
        &after,
        MessageType::Activity,
        Some(format!(
            "The bot could not answer ({why}); the conversation was handed over to an agent."
        )),
        ContentType::Text,
        None,
        json!({"handoff": true}),
    );
    insert_in(txn, &after, data, note, None).await?;
    Ok(())
}
