//! `NEW_MESSAGE` (seed 001, OneRoute): the `newMessage` event for messages received from
//! contacts, with the conversation, its customer and its `Channel`. Ids are our numeric ids as
//! decimal strings; timestamps are ISO 8601 UTC with milliseconds.

use entity::enums::{ContentType, ConversationStatus, MessageType};
use serde_json::{Value, json};

use super::{iso, parse};
use crate::events::data::*;

pub fn render(event: &Event) -> Option<Value> {
    if event.event_type != "message_created" {
        return None;
    }
    let d = &event.data;
    let m = d.message.as_ref()?;
    if parse(&m.message_type) != Some(MessageType::Incoming) {
        return None;
    }
    let (c, channel) = (d.conversation.as_ref()?, d.channel.as_ref()?);
    let name = d.contact.as_ref().and_then(ContactSnap::full_name);
    let content_type = parse::<ContentType>(&m.content_type);
    let media_if = |types: &[ContentType]| {
        content_type
            .filter(|t| types.contains(t))
            .and(m.media_url.as_deref())
    };
    Some(json!({
        "event": "newMessage",
        "message": {
            "sender": {"name": name, "authUser": false, "lastActivity": iso(m.created_at)},
            "externalId": m.external_id,
            "content": m.content,
            "contentType": m.content_type,
            "imageUrl": media_if(&[ContentType::Image, ContentType::Sticker]),
            "videoUrl": media_if(&[ContentType::Video]),
            "documentUrl": media_if(&[ContentType::Document]),
            "audioUrl": media_if(&[ContentType::Audio]),
            "quoted_message_id": match &m.content_attributes["in_reply_to"] {
                Value::Number(n) => Some(n.to_string()),
                Value::String(s) => Some(s.clone()),
                _ => None,
            },
            "conversation_id": c.id.to_string(),
        },
        "conversation": {
            "id": c.id.to_string(),
            "subject": null,
            "agent": d.assignee.as_ref().map(|u| &u.name),
            "customer": {"name": name, "email": d.contact.as_ref().and_then(|c| c.email.as_ref())},
            "lastMessageAt": c.last_message_at.map(iso),
            "status": parse(&c.status).map(status),
            "country": channel.country,
            "read": c.unread_count == 0,
            "createdAt": iso(c.created_at),
            "updatedAt": iso(c.updated_at),
            "agent_id": c.assignee_id.map(|id| id.to_string()),
            "Channel": {
                "id": channel.id.to_string(),
                "phone": channel.phone,
                "identifier": channel.identifier,
                "medium": channel.kind,
                // Never sent: channel credentials stay in Switchboard.
                "credentials": null,
                "description": channel.description,
                "name": channel.name,
                // OneRoute's type for channels run by the customer's own integration.
                "type": "CUSTOM",
                "provider": channel.provider,
                "country": channel.country,
                "env": channel.env,
                "status": channel.status,
                "webhookUrl": channel.webhook_url,
            },
        },
    }))
}

fn status(s: ConversationStatus) -> &'static str {
    match s {
        ConversationStatus::Open => "open",
        ConversationStatus::Pending => "in-queue",
        ConversationStatus::Resolved => "closed",
        ConversationStatus::Snoozed => "snoozed",
    }
}

#[cfg(test)]
mod tests {
    use super::super::{assert_same_shape, fixtures::*};
    use super::*;

    #[test]
    fn an_incoming_message_is_the_documents_new_message_event() {
        assert_eq!(
            render(&message_created(incoming_message())),
            Some(json!({
                "event": "newMessage",
                "message": {
                    "sender": {
                        "name": "John Doe",
                        "authUser": false,
                        "lastActivity": "2021-06-30T18:40:00.123Z",
                    },
                    "externalId": "abc123",
                    "content": "Hello, world!",
                    "contentType": "TEXT",
                    "imageUrl": null,
                    "videoUrl": null,
                    "documentUrl": null,
                    "audioUrl": null,
                    "quoted_message_id": null,
                    "conversation_id": "1",
                },
                "conversation": {
                    "id": "1",
                    "subject": null,
                    "agent": "Jane Agent",
                    "customer": {"name": "John Doe", "email": "john.doe@example.com"},
                    "lastMessageAt": "2021-06-30T18:40:00.123Z",
                    "status": "open",
                    "country": "NG",
                    "read": true,
                    "createdAt": "2021-06-30T18:40:00.000Z",
                    "updatedAt": "2021-06-30T18:41:00.000Z",
                    "agent_id": "1",
                    "Channel": {
                        "id": "1",
                        "phone": null,
                        "identifier": "Identifier",
                        "medium": "WHATSAPP",
                        "credentials": null,
                        "description": "Whatsapp Channel",
                        "name": "Channel name",
                        "type": "CUSTOM",
                        "provider": null,
                        "country": "NG",
                        "env": "LIVE",
                        "status": "ACTIVE",
                        "webhookUrl": "https://webhook.url",
                    },
                },
            }))
        );
    }

    #[test]
    fn an_incoming_message_has_the_shape_of_the_documents_example() {
        let payload = render(&message_created(incoming_message())).unwrap();
        assert_same_shape(&golden("new_message.json"), &payload);
    }

    #[test]
    fn media_goes_to_the_url_field_of_its_content_type() {
        let url = "https://cdn.example/file";
        for (content_type, field) in [
            ("IMAGE", "imageUrl"),
            ("STICKER", "imageUrl"),
            ("VIDEO", "videoUrl"),
            ("DOCUMENT", "documentUrl"),
            ("AUDIO", "audioUrl"),
            ("LOCATION", ""),
        ] {
            let message = MessageSnap {
                content_type: content_type.into(),
                media_url: Some(url.into()),
                ..incoming_message()
            };
            let payload = render(&message_created(message)).unwrap();
            assert_eq!(payload["message"]["contentType"], content_type);
            for f in ["imageUrl", "videoUrl", "documentUrl", "audioUrl"] {
                let expected = if f == field { json!(url) } else { Value::Null };
                assert_eq!(payload["message"][f], expected, "{content_type} {f}");
            }
        }
    }

    #[test]
    fn a_reply_quotes_the_message_it_answers_as_a_string() {
        let reply = MessageSnap {
            content_attributes: json!({"in_reply_to": 41}),
            ..incoming_message()
        };
        let payload = render(&message_created(reply)).unwrap();
        assert_eq!(payload["message"]["quoted_message_id"], "41");
    }

    #[test]
    fn statuses_map_to_oneroutes_and_an_unassigned_conversation_has_no_agent() {
        for (ours, theirs) in [
            ("OPEN", "open"),
            ("PENDING", "in-queue"),
            ("RESOLVED", "closed"),
            ("SNOOZED", "snoozed"),
        ] {
            let mut e = message_created(incoming_message());
            let c = e.data.conversation.as_mut().unwrap();
            c.status = ours.into();
            c.assignee_id = None;
            c.unread_count = 2;
            e.data.assignee = None;
            let conversation = render(&e).unwrap()["conversation"].clone();
            assert_eq!(conversation["status"], theirs);
            assert_eq!(conversation["agent"], Value::Null);
            assert_eq!(conversation["agent_id"], Value::Null);
            assert_eq!(conversation["read"], false);
        }
    }

    #[test]
    fn only_messages_received_from_contacts_are_sent() {
        assert_eq!(render(&message_created(outgoing_message())), None);
        for e in [
            message_status_changed(),
            conversation_created(),
            contact_created(),
        ] {
            assert_eq!(render(&e), None, "{}", e.event_type);
        }
        assert_eq!(render(&partner("online", json!({}))), None);
    }
}
