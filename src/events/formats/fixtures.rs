//! Test fixtures: the objects of the seed documents' examples (account 101 "Acme", channel 1
//! WhatsApp, contact 1 John Doe, conversation 1, agent 1 Jane) as event snapshots.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::events::data::*;

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("fixture time")
        .with_timezone(&Utc)
}

/// 1625078400, the seed 000 example's timestamp.
pub const T0: &str = "2021-06-30T18:40:00Z";
/// When the fixture message was created (unix 1625078400).
pub const MESSAGE_AT: &str = "2021-06-30T18:40:00.123Z";
/// When the fixture events happened (unix 1625078700).
pub const EVENT_AT: &str = "2021-06-30T18:45:00.250Z";

pub fn golden(name: &str) -> Value {
    let path = format!(
        "{}/src/events/formats/golden/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("golden file");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn account() -> AccountSnap {
    AccountSnap {
        id: 101,
        name: "Acme".into(),
    }
}

pub fn channel() -> ChannelSnap {
    ChannelSnap {
        id: 1,
        kind: "WHATSAPP".into(),
        name: "Channel name".into(),
        phone: None,
        identifier: Some("Identifier".into()),
        provider: None,
        country: Some("NG".into()),
        env: "LIVE".into(),
        status: "ACTIVE".into(),
        description: Some("Whatsapp Channel".into()),
        webhook_url: Some("https://webhook.url".into()),
    }
}

pub fn inbox() -> InboxSnap {
    InboxSnap {
        id: 7,
        name: "Support".into(),
        channel_id: 1,
    }
}

pub fn contact() -> ContactSnap {
    ContactSnap {
        id: 1,
        account_id: 101,
        first_name: Some("John".into()),
        last_name: Some("Doe".into()),
        phone_number: Some("1234567890".into()),
        email: Some("john.doe@example.com".into()),
        avatar_url: None,
        custom_attributes: json!({}),
        tags: vec![
            TagSnap {
                id: 1,
                name: "Customer".into(),
            },
            TagSnap {
                id: 2,
                name: "VIP".into(),
            },
        ],
        meta: vec![
            MetaSnap {
                key: "address".into(),
                value: "123 Main St, Anytown, USA".into(),
            },
            MetaSnap {
                key: "plan".into(),
                value: "gold".into(),
            },
        ],
        created_at: at(T0),
        updated_at: at(T0),
    }
}

pub fn contact_inbox() -> ContactInboxSnap {
    ContactInboxSnap {
        id: 3,
        contact_id: 1,
        inbox_id: 7,
        source_id: "1234567890".into(),
        hmac_verified: false,
        created_at: at(T0),
        updated_at: at(T0),
    }
}

pub fn agent() -> UserSnap {
    UserSnap {
        id: 1,
        name: "Jane Agent".into(),
        email: "jane@acme.example".into(),
    }
}

pub fn browser() -> Value {
    json!({
        "browser_name": "Chrome",
        "browser_version": "126.0",
        "device_name": "Unknown",
        "platform_name": "macOS",
        "platform_version": "14.5",
    })
}

pub fn conversation() -> ConversationSnap {
    ConversationSnap {
        id: 1,
        account_id: 101,
        inbox_id: 7,
        contact_id: 1,
        assignee_id: Some(1),
        department_id: Some(1),
        goal_id: Some(1),
        status: "OPEN".into(),
        unread_count: 0,
        last_message: Some("Hello, world!".into()),
        last_message_at: Some(at(MESSAGE_AT)),
        started_at: Some(at(T0)),
        ended_at: None,
        snoozed_until: None,
        agent_last_seen_at: None,
        contact_last_seen_at: Some(at(MESSAGE_AT)),
        metadata: Some(json!({"key": "value"})),
        reason: Some("User initiated".into()),
        additional_attributes: json!({
            "browser": browser(),
            "referer": "https://acme.example/pricing",
            "initiated_at": {"timestamp": "Wed Jun 30 2021 18:39:58 GMT+0000"},
        }),
        custom_attributes: json!({}),
        created_at: at(T0),
        updated_at: at("2021-06-30T18:41:00Z"),
    }
}

/// "Hello, world!" from John Doe.
pub fn incoming_message() -> MessageSnap {
    MessageSnap {
        id: 42,
        conversation_id: 1,
        sender_type: "CONTACT".into(),
        sender_id: Some(1),
        message_type: "INCOMING".into(),
        content: Some("Hello, world!".into()),
        content_type: "TEXT".into(),
        media_url: None,
        source_id: Some("wamid.abc123".into()),
        external_id: Some("abc123".into()),
        delivery_status: "DELIVERED".into(),
        private: false,
        content_attributes: json!({}),
        created_at: at(MESSAGE_AT),
        updated_at: at(MESSAGE_AT),
    }
}

/// Jane's reply, delivered.
pub fn outgoing_message() -> MessageSnap {
    MessageSnap {
        id: 43,
        sender_type: "USER".into(),
        message_type: "OUTGOING".into(),
        content: Some("Hi John, how can I help?".into()),
        source_id: None,
        external_id: Some("wamid.out43".into()),
        content_attributes: json!({"in_reply_to": 42}),
        ..incoming_message()
    }
}

pub fn event(event_type: &str, data: EventData) -> Event {
    Event {
        id: 9,
        event_type: event_type.into(),
        created_at: at(EVENT_AT),
        data,
    }
}

/// What conversation events carry.
pub fn conversation_data() -> EventData {
    EventData {
        account: Some(account()),
        inbox: Some(inbox()),
        channel: Some(channel()),
        contact: Some(contact()),
        contact_inbox: Some(contact_inbox()),
        conversation: Some(conversation()),
        assignee: Some(agent()),
        last_message: Some(incoming_message()),
        ..EventData::default()
    }
}

pub fn message_created(message: MessageSnap) -> Event {
    let sender_user = (message.sender_type == "USER").then(agent);
    event(
        "message_created",
        EventData {
            message: Some(message),
            sender_user,
            ..conversation_data()
        },
    )
}

/// Jane's reply went from SENT to DELIVERED.
pub fn message_status_changed() -> Event {
    let mut e = message_created(outgoing_message());
    e.event_type = "message_updated".into();
    e.data.previous_delivery_status = Some("SENT".into());
    e
}

pub fn conversation_created() -> Event {
    event("conversation_created", conversation_data())
}

/// Jane resolved the conversation (it was open).
pub fn conversation_resolved(event_type: &str) -> Event {
    let mut data = conversation_data();
    if let Some(c) = data.conversation.as_mut() {
        c.status = "RESOLVED".into();
    }
    data.changes = vec![Change {
        attribute: "status".into(),
        previous_value: json!("OPEN"),
        current_value: json!("RESOLVED"),
    }];
    event(event_type, data)
}

pub fn contact_created() -> Event {
    event(
        "contact_created",
        EventData {
            account: Some(account()),
            contact: Some(contact()),
            ..EventData::default()
        },
    )
}

pub fn event_info() -> Value {
    json!({
        "initiated_at": {"timestamp": "Wed Jun 30 2021 18:44:59 GMT+0000"},
        "referer": "https://acme.example/pricing",
        "widget_language": "en",
        "browser_language": "en",
        "browser": browser(),
    })
}

/// John opened the web widget while conversation 1 was his current one.
pub fn webwidget_triggered() -> Event {
    let mut data = conversation_data();
    data.widget = Some(WidgetSnap {
        source_id: "1234567890".into(),
        event_info: event_info(),
    });
    event("webwidget_triggered", data)
}

/// A partner event with `fields` (seed 003 names) as the snapshot's partner part.
pub fn partner(event_type: &str, fields: Value) -> Event {
    event(
        event_type,
        EventData {
            account: Some(account()),
            partner: Some(fields),
            ..EventData::default()
        },
    )
}

/// A representative event of each catalogued name.
pub fn any_event(name: &str) -> Event {
    match name {
        "message_created" => message_created(incoming_message()),
        "message_updated" => message_status_changed(),
        "conversation_created" => conversation_created(),
        "conversation_updated" | "conversation_status_changed" => conversation_resolved(name),
        "contact_created" | "contact_updated" => Event {
            event_type: name.into(),
            ..contact_created()
        },
        "webwidget_triggered" => webwidget_triggered(),
        _ => partner(name, json!({"builderID": 523})),
    }
}
