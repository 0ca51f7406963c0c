//! `CHATWOOT` (seed 002, Bevatel's Chatwoot-derived events): `{"event": name, ...attributes}`
//! with the document's Account, Inbox, Contact, User, Conversation and Message objects, for
//! every non-partner event. Where the document is silent we send what Chatwoot itself sends.

use entity::enums::{ChannelKind, ContentType, ConversationStatus, MessageType};
use serde_json::{Value, json};

use super::{changed_attributes, iso, object_or_empty, parse};
use crate::events::data::*;

pub fn render(event: &Event) -> Option<Value> {
    let d = &event.data;
    let mut payload = match event.event_type.as_str() {
        "conversation_created" | "conversation_status_changed" => {
            conversation(d, d.conversation.as_ref()?)
        }
        "conversation_updated" => {
            let mut payload = conversation(d, d.conversation.as_ref()?);
            payload["changed_attributes"] =
                changed_attributes(&d.changes, |change, value| {
                    match (change.attribute.as_str(), value) {
                        ("status", Value::String(s)) => json!(s.to_lowercase()),
                        _ => value.clone(),
                    }
                });
            payload
        }
        "message_created" | "message_updated" => message(d, d.message.as_ref()?),
        "contact_created" | "contact_updated" => contact(d, d.contact.as_ref()?),
        "webwidget_triggered" => {
            let (contact_inbox, widget) = (d.contact_inbox.as_ref()?, d.widget.as_ref()?);
            json!({
                "id": contact_inbox.id,
                "contact": d.contact.as_ref().map(|c| contact(d, c)),
                "inbox": d.inbox.as_ref().map(inbox),
                "account": d.account.as_ref().map(account),
                "current_conversation": d.conversation.as_ref().map(|c| conversation(d, c)),
                "source_id": widget.source_id,
                "event_info": widget.event_info,
            })
        }
        _ => return None,
    };
    payload["event"] = json!(event.event_type);
    Some(payload)
}

fn account(a: &AccountSnap) -> Value {
    json!({"id": a.id, "name": a.name})
}

fn inbox(i: &InboxSnap) -> Value {
    json!({"id": i.id, "name": i.name})
}

fn user(u: &UserSnap) -> Value {
    json!({"id": u.id, "name": u.name, "email": u.email, "type": "user"})
}

/// `name` and `avatar` are typed "string": unknown ones are `""`, as in Chatwoot.
fn contact(d: &EventData, c: &ContactSnap) -> Value {
    json!({
        "id": c.id,
        "name": c.full_name().unwrap_or_default(),
        "avatar": c.avatar_url.as_deref().unwrap_or_default(),
        "type": "contact",
        "email": c.email,
        "phone_number": c.phone_number,
        "custom_attributes": object_or_empty(&c.custom_attributes),
        "account": d.account.as_ref().map(account),
    })
}

fn conversation(d: &EventData, c: &ConversationSnap) -> Value {
    // Chatwoot sends `to_i` of these: a conversation never seen has 0.
    let seen = |t: Option<chrono::DateTime<chrono::Utc>>| t.map_or(0, |t| t.timestamp());
    json!({
        "additional_attributes": object_or_empty(&c.additional_attributes),
        "custom_attributes": object_or_empty(&c.custom_attributes),
        // Switchboard does not enforce provider messaging windows.
        "can_reply": true,
        "channel": d.channel.as_ref().and_then(|ch| parse(&ch.kind)).map(channel_class),
        "id": c.id,
        "inbox_id": c.inbox_id,
        "contact_inbox": d.contact_inbox.as_ref().map(|ci| json!({
            "id": ci.id,
            "contact_id": ci.contact_id,
            "inbox_id": ci.inbox_id,
            "source_id": ci.source_id,
            "created_at": iso(ci.created_at),
            "updated_at": iso(ci.updated_at),
            "hmac_verified": ci.hmac_verified,
        })),
        "messages": d.last_message.iter().map(|m| {
            // A nested message names its conversation instead of repeating it (as Chatwoot does).
            let mut nested = message_attributes(d, m);
            nested["conversation_id"] = json!(m.conversation_id);
            nested
        }).collect::<Vec<_>>(),
        "meta": {
            "sender": d.contact.as_ref().map(|ct| contact(d, ct)),
            "assignee": d.assignee.as_ref().map(user),
        },
        "status": parse(&c.status).map(status),
        "snoozed_until": c.snoozed_until.map(iso),
        "unread_count": c.unread_count,
        "agent_last_seen_at": seen(c.agent_last_seen_at),
        "contact_last_seen_at": seen(c.contact_last_seen_at),
        "timestamp": c.last_message_at.unwrap_or(c.created_at).timestamp(),
        "account_id": c.account_id,
    })
}

fn message(d: &EventData, m: &MessageSnap) -> Value {
    let mut payload = message_attributes(d, m);
    payload["conversation"] = json!(d.conversation.as_ref().map(|c| conversation(d, c)));
    payload
}

/// The Message object without its `conversation`.
fn message_attributes(d: &EventData, m: &MessageSnap) -> Value {
    let content_type = parse::<ContentType>(&m.content_type);
    let sender = match m.sender_type.as_str() {
        "CONTACT" => d.contact.as_ref().map(|c| contact(d, c)),
        "USER" => d.sender_user.as_ref().map(user),
        "BOT" => Some(json!({"id": m.sender_id, "name": null, "type": "agent_bot"})),
        _ => None,
    };
    let mut payload = json!({
        "id": m.id,
        "content": m.content,
        "message_type": parse(&m.message_type).map(message_type),
        "created_at": m.created_at.timestamp(),
        "private": m.private,
        "source_id": m.source_id,
        "content_type": m.content_type.to_lowercase(),
        "content_attributes": object_or_empty(&m.content_attributes),
        "sender": sender,
        "account": d.account.as_ref().map(account),
        "inbox": d.inbox.as_ref().map(inbox),
    });
    if let (Some(url), Some(kind)) = (&m.media_url, content_type) {
        payload["attachments"] = json!([{"file_type": file_type(kind), "data_url": url}]);
    }
    payload
}

fn message_type(t: MessageType) -> u8 {
    match t {
        MessageType::Incoming => 0,
        MessageType::Outgoing => 1,
        MessageType::Activity => 2,
        MessageType::Template => 3,
    }
}

fn status(s: ConversationStatus) -> &'static str {
    match s {
        ConversationStatus::Open => "open",
        ConversationStatus::Resolved => "resolved",
        ConversationStatus::Pending => "pending",
        ConversationStatus::Snoozed => "snoozed",
    }
}

/// Chatwoot's `channel_type`, the class name of the inbox's channel.
fn channel_class(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Whatsapp => "Channel::Whatsapp",
        ChannelKind::WebWidget => "Channel::WebWidget",
        ChannelKind::Api | ChannelKind::Other => "Channel::Api",
        ChannelKind::Sms => "Channel::Sms",
        ChannelKind::Email => "Channel::Email",
        ChannelKind::Messenger => "Channel::FacebookPage",
        ChannelKind::Telegram => "Channel::Telegram",
        ChannelKind::Instagram => "Channel::Instagram",
        ChannelKind::Line => "Channel::Line",
    }
}

/// Chatwoot's attachment `file_type` for a message with a media URL.
fn file_type(t: ContentType) -> &'static str {
    match t {
        ContentType::Image | ContentType::Sticker => "image",
        ContentType::Video => "video",
        ContentType::Audio => "audio",
        ContentType::Location => "location",
        ContentType::ContactCard => "contact",
        _ => "file",
    }
}

#[cfg(test)]
mod tests {
    use super::super::{
        assert_same_shape,
        fixtures::{self, *},
    };
    use super::*;

    fn acme() -> Value {
        json!({"id": 101, "name": "Acme"})
    }

    fn support() -> Value {
        json!({"id": 7, "name": "Support"})
    }

    fn jane() -> Value {
        json!({"id": 1, "name": "Jane Agent", "email": "jane@acme.example", "type": "user"})
    }

    fn john() -> Value {
        json!({
            "id": 1, "name": "John Doe", "avatar": "", "type": "contact",
            "email": "john.doe@example.com", "phone_number": "1234567890",
            "custom_attributes": {}, "account": acme(),
        })
    }

    fn hello_world() -> Value {
        json!({
            "id": 42, "content": "Hello, world!", "message_type": 0, "created_at": 1625078400,
            "private": false, "source_id": "wamid.abc123", "content_type": "text",
            "content_attributes": {}, "sender": john(), "account": acme(), "inbox": support(),
        })
    }

    /// Conversation 1 with `status`, as every conversation-bearing payload shows it.
    fn conversation_1(status: &str) -> Value {
        let mut nested = hello_world();
        nested["conversation_id"] = json!(1);
        json!({
            "additional_attributes": fixtures::conversation().additional_attributes,
            "custom_attributes": {},
            "can_reply": true,
            "channel": "Channel::Whatsapp",
            "id": 1,
            "inbox_id": 7,
            "contact_inbox": {
                "id": 3, "contact_id": 1, "inbox_id": 7, "source_id": "1234567890",
                "created_at": "2021-06-30T18:40:00.000Z",
                "updated_at": "2021-06-30T18:40:00.000Z", "hmac_verified": false,
            },
            "messages": [nested],
            "meta": {"sender": john(), "assignee": jane()},
            "status": status,
            "snoozed_until": null,
            "unread_count": 0,
            "agent_last_seen_at": 0,
            "contact_last_seen_at": 1625078400,
            "timestamp": 1625078400,
            "account_id": 101,
        })
    }

    fn with(mut object: Value, key: &str, value: Value) -> Value {
        object[key] = value;
        object
    }

    #[test]
    fn message_created_is_the_message_object_with_its_conversation() {
        let expected = with(hello_world(), "conversation", conversation_1("open"));
        assert_eq!(
            render(&message_created(incoming_message())),
            Some(with(expected, "event", json!("message_created")))
        );
    }

    #[test]
    fn a_reply_by_an_agent_is_an_outgoing_message_sent_by_a_user() {
        let payload = render(&message_status_changed()).unwrap();
        assert_eq!(payload["event"], "message_updated");
        assert_eq!(payload["message_type"], 1);
        assert_eq!(payload["sender"], jane());
        assert_eq!(payload["content_attributes"], json!({"in_reply_to": 42}));
    }

    #[test]
    fn media_is_sent_as_a_chatwoot_attachment() {
        let image = MessageSnap {
            content_type: "IMAGE".into(),
            media_url: Some("https://cdn.example/cat.jpg".into()),
            ..incoming_message()
        };
        let payload = render(&message_created(image)).unwrap();
        assert_eq!(payload["content_type"], "image");
        assert_eq!(
            payload["attachments"],
            json!([{"file_type": "image", "data_url": "https://cdn.example/cat.jpg"}])
        );
    }

    #[test]
    fn message_events_have_every_field_of_the_documents_objects() {
        let objects = golden("chatwoot_objects.json");
        let payload = render(&message_created(incoming_message())).unwrap();
        assert_same_shape(&objects["message"], &payload);
        assert_same_shape(&objects["contact"], &payload["sender"]);
        assert_same_shape(
            &objects["user"],
            &payload["conversation"]["meta"]["assignee"],
        );
        let mut nested = objects["message"].clone();
        nested.as_object_mut().unwrap().remove("conversation");
        assert_same_shape(&nested, &payload["conversation"]["messages"][0]);
        let reply = render(&message_status_changed()).unwrap();
        assert_same_shape(&objects["message"], &reply);
        assert_same_shape(&objects["user"], &reply["sender"]);
    }

    #[test]
    fn conversation_created_is_the_conversation_object() {
        assert_eq!(
            render(&conversation_created()),
            Some(with(
                conversation_1("open"),
                "event",
                json!("conversation_created")
            ))
        );
    }

    #[test]
    fn conversation_updated_adds_each_change_with_current_and_previous_value() {
        let expected = with(
            conversation_1("resolved"),
            "changed_attributes",
            json!([{"status": {"current_value": "resolved", "previous_value": "open"}}]),
        );
        let payload = render(&conversation_resolved("conversation_updated")).unwrap();
        assert_eq!(
            payload,
            with(expected, "event", json!("conversation_updated"))
        );
        assert_same_shape(
            &golden("chatwoot_events.json")["conversation_updated"],
            &payload,
        );
        assert_same_shape(&golden("chatwoot_objects.json")["conversation"], &payload);
    }

    #[test]
    fn conversation_status_changed_is_the_conversation_object() {
        assert_eq!(
            render(&conversation_resolved("conversation_status_changed")),
            Some(with(
                conversation_1("resolved"),
                "event",
                json!("conversation_status_changed")
            ))
        );
    }

    #[test]
    fn contact_events_are_the_contact_object() {
        let payload = render(&contact_created()).unwrap();
        assert_eq!(payload, with(john(), "event", json!("contact_created")));
        assert_same_shape(&golden("chatwoot_objects.json")["contact"], &payload);
    }

    #[test]
    fn webwidget_triggered_names_the_contact_inbox_and_current_conversation() {
        let payload = render(&webwidget_triggered()).unwrap();
        assert_eq!(
            payload,
            json!({
                "id": 3, "contact": john(), "inbox": support(), "account": acme(),
                "current_conversation": conversation_1("open"), "source_id": "1234567890",
                "event": "webwidget_triggered", "event_info": event_info(),
            })
        );
        let objects = golden("chatwoot_objects.json");
        assert_same_shape(
            &golden("chatwoot_events.json")["webwidget_triggered"],
            &payload,
        );
        assert_same_shape(&objects["contact"], &payload["contact"]);
        assert_same_shape(&objects["inbox"], &payload["inbox"]);
        assert_same_shape(&objects["account"], &payload["account"]);
        assert_same_shape(&objects["conversation"], &payload["current_conversation"]);
    }

    #[test]
    fn a_widget_opened_without_a_conversation_has_a_null_current_conversation() {
        let mut e = webwidget_triggered();
        e.data.conversation = None;
        assert_eq!(render(&e).unwrap()["current_conversation"], Value::Null);
    }

    #[test]
    fn channels_are_named_by_chatwoot_class() {
        for (kind, class) in [
            ("WEB_WIDGET", "Channel::WebWidget"),
            ("MESSENGER", "Channel::FacebookPage"),
            ("OTHER", "Channel::Api"),
        ] {
            let mut e = conversation_created();
            e.data.channel.as_mut().unwrap().kind = kind.into();
            assert_eq!(render(&e).unwrap()["channel"], class);
        }
    }

    #[test]
    fn partner_events_and_snapshots_without_their_object_send_nothing() {
        for name in ["whatsapp", "builder", "online"] {
            assert_eq!(render(&partner(name, json!({}))), None);
        }
        let mut e = message_created(incoming_message());
        e.data.message = None;
        assert_eq!(render(&e), None);
    }
}
