//! `FLAT_MESSAGE` (seed 000, 2BeBot): the "Incoming Message Payload" for messages received
//! from contacts and the "Message Status Update Payload" when a message's delivery status
//! changes. Nothing else is sent.

use entity::enums::{ChannelKind, MessageType};
use serde_json::{Value, json};

use super::parse;
use crate::events::data::*;

pub fn render(event: &Event) -> Option<Value> {
    match event.event_type.as_str() {
        "message_created" => received_message(&event.data),
        "message_updated" => status_update(event),
        _ => None,
    }
}

fn received_message(d: &EventData) -> Option<Value> {
    let m = d.message.as_ref()?;
    if parse(&m.message_type) != Some(MessageType::Incoming) {
        return None;
    }
    let (account, channel, contact, c) = (
        d.account.as_ref()?,
        d.channel.as_ref()?,
        d.contact.as_ref()?,
        d.conversation.as_ref()?,
    );
    let tag = contact.tags.iter().min_by(|a, b| a.name.cmp(&b.name));
    let meta = contact.meta.iter().min_by(|a, b| a.key.cmp(&b.key));
    let unix = |t: chrono::DateTime<chrono::Utc>| t.timestamp();
    Some(json!({
        "type": m.content_type.to_lowercase(),
        "message_id": m.id.to_string(),
        "message": m.content,
        "name": contact.full_name(),
        "phone_number": contact.phone_number.as_deref().unwrap_or_default(),
        "url": m.media_url,
        "channel_id": channel.id,
        "company_id": account.id,
        "contact": {
            "id": contact.id,
            "company_id": account.id,
            "channel_id": channel.id,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "phone_number": contact.phone_number,
            "email": contact.email,
            "contact_tag": tag.map(|t| json!({"tag_id": t.id, "contact_tags": {"name": t.name}})),
            "contacts_meta": meta.map(|m| json!({"meta_key": m.key, "meta_value": m.value})),
        },
        "conversation": {
            "id": c.id,
            "company_id": account.id,
            "contact_id": c.contact_id,
            "department_id": c.department_id,
            "channel_type": parse(&channel.kind).map(channel_type),
            "channel_id": channel.id,
            "user_id": c.assignee_id,
            "status": c.status.to_lowercase(),
            "last_message": c.last_message,
            "unread_count": c.unread_count,
            "started_at": c.started_at.map(unix),
            "ended_at": c.ended_at.map(unix),
            "metadata": c.metadata,
            "reason": c.reason,
            "goal_id": c.goal_id,
            "created_at": unix(c.created_at),
            "updated_at": unix(c.updated_at),
        },
    }))
}

fn status_update(event: &Event) -> Option<Value> {
    let d = &event.data;
    // Only a changed delivery status is a status update; other edits send nothing.
    d.previous_delivery_status.as_ref()?;
    let (m, account, channel) = (
        d.message.as_ref()?,
        d.account.as_ref()?,
        d.channel.as_ref()?,
    );
    Some(json!({
        "message_id": m.id.to_string(),
        "status": m.delivery_status.to_lowercase(),
        "timestamp": event.created_at.timestamp(),
        "channel_id": channel.id,
        "company_id": account.id,
    }))
}

/// The document's `channel_type` ("e.g., WhatsApp, Messenger").
fn channel_type(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Whatsapp => "WhatsApp",
        ChannelKind::Messenger => "Messenger",
        ChannelKind::WebWidget => "WebWidget",
        ChannelKind::Sms => "SMS",
        ChannelKind::Email => "Email",
        ChannelKind::Telegram => "Telegram",
        ChannelKind::Instagram => "Instagram",
        ChannelKind::Line => "Line",
        ChannelKind::Api => "API",
        ChannelKind::Other => "Other",
    }
}

#[cfg(test)]
mod tests {
    use super::super::{assert_same_shape, fixtures::*};
    use super::*;

    #[test]
    fn an_incoming_message_is_the_documents_incoming_message_payload() {
        assert_eq!(
            render(&message_created(incoming_message())),
            Some(json!({
                "type": "text",
                "message_id": "42",
                "message": "Hello, world!",
                "name": "John Doe",
                "phone_number": "1234567890",
                "url": null,
                "channel_id": 1,
                "company_id": 101,
                "contact": {
                    "id": 1,
                    "company_id": 101,
                    "channel_id": 1,
                    "first_name": "John",
                    "last_name": "Doe",
                    "phone_number": "1234567890",
                    "email": "john.doe@example.com",
                    "contact_tag": {"tag_id": 1, "contact_tags": {"name": "Customer"}},
                    "contacts_meta": {"meta_key": "address", "meta_value": "123 Main St, Anytown, USA"},
                },
                "conversation": {
                    "id": 1,
                    "company_id": 101,
                    "contact_id": 1,
                    "department_id": 1,
                    "channel_type": "WhatsApp",
                    "channel_id": 1,
                    "user_id": 1,
                    "status": "open",
                    "last_message": "Hello, world!",
                    "unread_count": 0,
                    "started_at": 1625078400,
                    "ended_at": null,
                    "metadata": {"key": "value"},
                    "reason": "User initiated",
                    "goal_id": 1,
                    "created_at": 1625078400,
                    "updated_at": 1625078460,
                },
            }))
        );
    }

    #[test]
    fn an_incoming_message_has_the_shape_of_the_documents_example() {
        let payload = render(&message_created(incoming_message())).unwrap();
        assert_same_shape(&golden("flat_message_incoming.json"), &payload);
    }

    #[test]
    fn media_goes_to_url_and_the_content_type_to_type() {
        let image = MessageSnap {
            content_type: "IMAGE".into(),
            content: None,
            media_url: Some("https://cdn.example/cat.jpg".into()),
            ..incoming_message()
        };
        let payload = render(&message_created(image)).unwrap();
        assert_eq!(payload["type"], "image");
        assert_eq!(payload["url"], "https://cdn.example/cat.jpg");
        assert_eq!(payload["message"], Value::Null);
    }

    #[test]
    fn the_first_tag_and_meta_by_name_are_sent_and_null_when_there_are_none() {
        let mut e = message_created(incoming_message());
        let contact = e.data.contact.as_mut().unwrap();
        contact.tags.reverse();
        contact.meta.reverse();
        let payload = render(&e).unwrap();
        assert_eq!(
            payload["contact"]["contact_tag"]["contact_tags"]["name"],
            "Customer"
        );
        assert_eq!(payload["contact"]["contacts_meta"]["meta_key"], "address");

        let contact = e.data.contact.as_mut().unwrap();
        contact.tags.clear();
        contact.meta.clear();
        let payload = render(&e).unwrap();
        assert_eq!(payload["contact"]["contact_tag"], Value::Null);
        assert_eq!(payload["contact"]["contacts_meta"], Value::Null);
    }

    #[test]
    fn an_unknown_phone_number_is_an_empty_string_and_an_unknown_name_null() {
        let mut e = message_created(incoming_message());
        let contact = e.data.contact.as_mut().unwrap();
        contact.phone_number = None;
        contact.first_name = None;
        contact.last_name = None;
        let payload = render(&e).unwrap();
        assert_eq!(payload["phone_number"], "");
        assert_eq!(payload["contact"]["phone_number"], Value::Null);
        assert_eq!(payload["name"], Value::Null);
    }

    #[test]
    fn a_delivery_status_change_is_the_documents_status_update_payload() {
        let payload = render(&message_status_changed()).unwrap();
        assert_eq!(
            payload,
            json!({
                "message_id": "43",
                "status": "delivered",
                "timestamp": 1625078700,
                "channel_id": 1,
                "company_id": 101,
            })
        );
        assert_same_shape(&golden("flat_message_status.json"), &payload);
    }

    #[test]
    fn messages_not_received_from_contacts_send_nothing() {
        for message_type in ["OUTGOING", "ACTIVITY", "TEMPLATE"] {
            let message = MessageSnap {
                message_type: message_type.into(),
                ..incoming_message()
            };
            assert_eq!(render(&message_created(message)), None, "{message_type}");
        }
    }

    #[test]
    fn a_message_update_that_keeps_the_delivery_status_sends_nothing() {
        let mut e = message_status_changed();
        e.data.previous_delivery_status = None;
        assert_eq!(render(&e), None);
    }

    #[test]
    fn events_other_than_message_events_send_nothing() {
        for e in [
            conversation_created(),
            contact_created(),
            webwidget_triggered(),
        ] {
            assert_eq!(render(&e), None, "{}", e.event_type);
        }
        assert_eq!(render(&partner("whatsapp", json!({}))), None);
    }
}
