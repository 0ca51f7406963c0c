//! `STANDARD`: Switchboard's own envelope `{"type", "timestamp", "data"}` for every event.
//! `data` holds the snapshot objects the event carries, snake_case, enum values as stored
//! (`OPEN`, `INCOMING`, …), datetimes as RFC 3339 with milliseconds. Objects are built field by
//! field so that nothing reaches a receiver unless it is listed here.

use serde_json::{Map, Value, json};

use super::{changed_attributes, iso};
use crate::events::data::*;

pub fn render(event: &Event) -> Option<Value> {
    let d = &event.data;
    let mut data = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            data.insert(key.into(), v);
        }
    };
    put(
        "account",
        d.account
            .as_ref()
            .map(|a| json!({"id": a.id, "name": a.name})),
    );
    put(
        "inbox",
        d.inbox
            .as_ref()
            .map(|i| json!({"id": i.id, "name": i.name, "channel_id": i.channel_id})),
    );
    put("channel", d.channel.as_ref().map(channel));
    put("contact", d.contact.as_ref().map(contact));
    put("contact_inbox", d.contact_inbox.as_ref().map(contact_inbox));
    put("conversation", d.conversation.as_ref().map(conversation));
    put("assignee", d.assignee.as_ref().map(user));
    put("message", d.message.as_ref().map(message));
    put("sender", d.sender_user.as_ref().map(user));
    put(
        "changed_attributes",
        (event.event_type == "conversation_updated")
            .then(|| changed_attributes(&d.changes, |_, v| v.clone())),
    );
    put(
        "previous_delivery_status",
        d.previous_delivery_status.as_ref().map(|s| json!(s)),
    );
    put(
        "widget",
        d.widget
            .as_ref()
            .map(|w| json!({"source_id": w.source_id, "event_info": w.event_info})),
    );
    put("partner", d.partner.clone());
    Some(json!({
        "type": event.event_type,
        "timestamp": iso(event.created_at),
        "data": data,
    }))
}

fn channel(c: &ChannelSnap) -> Value {
    json!({
        "id": c.id,
        "kind": c.kind,
        "name": c.name,
        "phone": c.phone,
        "identifier": c.identifier,
        "provider": c.provider,
        "country": c.country,
        "env": c.env,
        "status": c.status,
        "description": c.description,
        "webhook_url": c.webhook_url,
    })
}

fn contact(c: &ContactSnap) -> Value {
    json!({
        "id": c.id,
        "account_id": c.account_id,
        "name": c.full_name(),
        "first_name": c.first_name,
        "last_name": c.last_name,
        "phone_number": c.phone_number,
        "email": c.email,
        "avatar_url": c.avatar_url,
        "custom_attributes": c.custom_attributes,
        "tags": c.tags.iter().map(|t| json!({"id": t.id, "name": t.name})).collect::<Vec<_>>(),
        "meta": c.meta.iter().map(|m| json!({"key": m.key, "value": m.value})).collect::<Vec<_>>(),
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
    })
}

fn contact_inbox(ci: &ContactInboxSnap) -> Value {
    json!({
        "id": ci.id,
        "contact_id": ci.contact_id,
        "inbox_id": ci.inbox_id,
        "source_id": ci.source_id,
        "hmac_verified": ci.hmac_verified,
        "created_at": iso(ci.created_at),
        "updated_at": iso(ci.updated_at),
    })
}

fn user(u: &UserSnap) -> Value {
    json!({"id": u.id, "name": u.name, "email": u.email})
}

fn conversation(c: &ConversationSnap) -> Value {
    json!({
        "id": c.id,
        "account_id": c.account_id,
        "inbox_id": c.inbox_id,
        "contact_id": c.contact_id,
        "assignee_id": c.assignee_id,
        "department_id": c.department_id,
        "goal_id": c.goal_id,
        "status": c.status,
        "unread_count": c.unread_count,
        "last_message": c.last_message,
        "last_message_at": c.last_message_at.map(iso),
        "started_at": c.started_at.map(iso),
        "ended_at": c.ended_at.map(iso),
        "snoozed_until": c.snoozed_until.map(iso),
        "agent_last_seen_at": c.agent_last_seen_at.map(iso),
        "contact_last_seen_at": c.contact_last_seen_at.map(iso),
        "metadata": c.metadata,
        "reason": c.reason,
        "additional_attributes": c.additional_attributes,
        "custom_attributes": c.custom_attributes,
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
    })
}

fn message(m: &MessageSnap) -> Value {
    json!({
        "id": m.id,
        "conversation_id": m.conversation_id,
        "sender_type": m.sender_type,
        "sender_id": m.sender_id,
        "message_type": m.message_type,
        "content": m.content,
        "content_type": m.content_type,
        "media_url": m.media_url,
        "source_id": m.source_id,
        "external_id": m.external_id,
        "delivery_status": m.delivery_status,
        "private": m.private,
        "content_attributes": m.content_attributes,
        "created_at": iso(m.created_at),
        "updated_at": iso(m.updated_at),
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{self, *};
    use super::*;

    fn data_keys(payload: &Value) -> Vec<&str> {
        let mut keys: Vec<&str> = payload["data"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        keys
    }

    fn acme() -> Value {
        json!({"id": 101, "name": "Acme"})
    }

    fn jane() -> Value {
        json!({"id": 1, "name": "Jane Agent", "email": "jane@acme.example"})
    }

    #[test]
    fn a_message_event_carries_every_snapshot_object_under_snake_case_keys() {
        let payload = render(&message_status_changed()).unwrap();
        assert_eq!(
            payload,
            json!({
                "type": "message_updated",
                "timestamp": "2021-06-30T18:45:00.250Z",
                "data": {
                    "account": acme(),
                    "inbox": {"id": 7, "name": "Support", "channel_id": 1},
                    "channel": {
                        "id": 1, "kind": "WHATSAPP", "name": "Channel name", "phone": null,
                        "identifier": "Identifier", "provider": null, "country": "NG",
                        "env": "LIVE", "status": "ACTIVE", "description": "Whatsapp Channel",
                        "webhook_url": "https://webhook.url",
                    },
                    "contact": {
                        "id": 1, "account_id": 101, "name": "John Doe", "first_name": "John",
                        "last_name": "Doe", "phone_number": "1234567890",
                        "email": "john.doe@example.com", "avatar_url": null,
                        "custom_attributes": {},
                        "tags": [{"id": 1, "name": "Customer"}, {"id": 2, "name": "VIP"}],
                        "meta": [
                            {"key": "address", "value": "123 Main St, Anytown, USA"},
                            {"key": "plan", "value": "gold"},
                        ],
                        "created_at": "2021-06-30T18:40:00.000Z",
                        "updated_at": "2021-06-30T18:40:00.000Z",
                    },
                    "contact_inbox": {
                        "id": 3, "contact_id": 1, "inbox_id": 7, "source_id": "1234567890",
                        "hmac_verified": false,
                        "created_at": "2021-06-30T18:40:00.000Z",
                        "updated_at": "2021-06-30T18:40:00.000Z",
                    },
                    "conversation": {
                        "id": 1, "account_id": 101, "inbox_id": 7, "contact_id": 1,
                        "assignee_id": 1, "department_id": 1, "goal_id": 1, "status": "OPEN",
                        "unread_count": 0, "last_message": "Hello, world!",
                        "last_message_at": "2021-06-30T18:40:00.123Z",
                        "started_at": "2021-06-30T18:40:00.000Z", "ended_at": null,
                        "snoozed_until": null, "agent_last_seen_at": null,
                        "contact_last_seen_at": "2021-06-30T18:40:00.123Z",
                        "metadata": {"key": "value"}, "reason": "User initiated",
                        "additional_attributes": fixtures::conversation().additional_attributes,
                        "custom_attributes": {},
                        "created_at": "2021-06-30T18:40:00.000Z",
                        "updated_at": "2021-06-30T18:41:00.000Z",
                    },
                    "assignee": jane(),
                    "message": {
                        "id": 43, "conversation_id": 1, "sender_type": "USER", "sender_id": 1,
                        "message_type": "OUTGOING", "content": "Hi John, how can I help?",
                        "content_type": "TEXT", "media_url": null, "source_id": null,
                        "external_id": "wamid.out43", "delivery_status": "DELIVERED",
                        "private": false, "content_attributes": {"in_reply_to": 42},
                        "created_at": "2021-06-30T18:40:00.123Z",
                        "updated_at": "2021-06-30T18:40:00.123Z",
                    },
                    "sender": jane(),
                    "previous_delivery_status": "SENT",
                },
            })
        );
    }

    #[test]
    fn conversation_updated_lists_changes_in_the_seed_002_shape() {
        let payload = render(&conversation_resolved("conversation_updated")).unwrap();
        assert_eq!(
            payload["data"]["changed_attributes"],
            json!([{"status": {"current_value": "RESOLVED", "previous_value": "OPEN"}}])
        );
        assert_eq!(payload["data"]["conversation"]["status"], "RESOLVED");
    }

    #[test]
    fn only_conversation_updated_lists_changed_attributes() {
        let payload = render(&conversation_resolved("conversation_status_changed")).unwrap();
        assert!(payload["data"].get("changed_attributes").is_none());
    }

    #[test]
    fn absent_objects_are_left_out_of_data() {
        let payload = render(&contact_created()).unwrap();
        assert_eq!(payload["type"], "contact_created");
        assert_eq!(data_keys(&payload), ["account", "contact"]);
    }

    #[test]
    fn webwidget_triggered_carries_the_widget() {
        let payload = render(&webwidget_triggered()).unwrap();
        assert_eq!(
            payload["data"]["widget"],
            json!({"source_id": "1234567890", "event_info": event_info()})
        );
    }

    #[test]
    fn partner_events_carry_the_partner_fields_under_partner() {
        let payload = render(&partner("builder", json!({"builderID": 523}))).unwrap();
        assert_eq!(data_keys(&payload), ["account", "partner"]);
        assert_eq!(payload["data"]["partner"], json!({"builderID": 523}));
        assert_eq!(payload["type"], "builder");
    }
}
