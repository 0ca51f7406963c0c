//! The chat context POSTed to a bot webhook (seed 004), rendered from the `bot_call` event that
//! an incoming message in a bot-handled conversation records.
//!
//! Ids are 24-character lowercase hex (the database id, zero padded), the shape the document's
//! examples have: `chatId` is the conversation, `messageId` the incoming message, `userId` the
//! contact, `node.id` and `node.webhookId` the connection. `externalId` is the contact's source
//! id in the inbox (its id in the channel), or the contact id when there is none.
//! `userAttributes` are the contact's `default_name`, `default_email` and `default_phone`
//! plus its custom attributes; `attributes` are the conversation's custom attributes, which the
//! bot's answers update.

use serde_json::{Map, Value, json};

use crate::{events::data::Event, services::bot_connections::rest_id};

pub const EVENT: &str = "bot_call";

/// The body for connection `connection_id` named `connection_name`, or `None` when the event
/// lacks the message or conversation.
pub fn render(event: &Event, connection_id: i64, connection_name: &str) -> Option<Value> {
    let d = &event.data;
    let msg = d.message.as_ref()?;
    let conv = d.conversation.as_ref()?;
    let mut user = Map::new();
    if let Some(c) = &d.contact {
        if let Some(n) = c.full_name() {
            user.insert("default_name".into(), json!(n));
        }
        if let Some(e) = &c.email {
            user.insert("default_email".into(), json!(e));
        }
        if let Some(p) = &c.phone_number {
            user.insert("default_phone".into(), json!(p));
        }
        if let Value::Object(extra) = &c.custom_attributes {
            for (k, v) in extra {
                user.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    let external = d
        .contact_inbox
        .as_ref()
        .map(|ci| ci.source_id.clone())
        .unwrap_or_else(|| conv.contact_id.to_string());
    let webhook_id = rest_id(connection_id);
    Some(json!({
        "chatId": rest_id(conv.id),
        "messageId": rest_id(msg.id),
        "userId": rest_id(conv.contact_id),
        "externalId": external,
        "node": {
            "id": webhook_id,
            "name": connection_name,
            "type": "WEBHOOK",
            "webhookId": webhook_id,
            "webhookName": connection_name,
        },
        "userAttributes": Value::Object(user),
        "attributes": match &conv.custom_attributes {
            Value::Object(_) => conv.custom_attributes.clone(),
            _ => json!({}),
        },
    }))
}
