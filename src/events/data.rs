//! What an event carries: a snapshot of the objects involved, taken in the transaction that
//! made the change and stored in the outbox. Payload formats are pure functions of this
//! snapshot, so every retry of a delivery sends the same bytes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountSnap {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxSnap {
    pub id: i64,
    pub name: String,
    pub channel_id: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelSnap {
    pub id: i64,
    /// `WHATSAPP`, `WEB_WIDGET`, … (stored enum value).
    pub kind: String,
    pub name: String,
    pub phone: Option<String>,
    pub identifier: Option<String>,
    pub provider: Option<String>,
    pub country: Option<String>,
    /// `LIVE` or `TEST`.
    pub env: String,
    /// `ACTIVE`, `INACTIVE`, …
    pub status: String,
    pub description: Option<String>,
    pub webhook_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagSnap {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaSnap {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactSnap {
    pub id: i64,
    pub account_id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone_number: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    pub custom_attributes: Value,
    /// Sorted by name.
    pub tags: Vec<TagSnap>,
    /// Sorted by key.
    pub meta: Vec<MetaSnap>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ContactSnap {
    /// First and last name joined, or `None` when both are empty.
    pub fn full_name(&self) -> Option<String> {
        let n = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        (!n.is_empty()).then_some(n)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactInboxSnap {
    pub id: i64,
    pub contact_id: i64,
    pub inbox_id: i64,
    pub source_id: String,
    pub hmac_verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserSnap {
    pub id: i64,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationSnap {
    pub id: i64,
    pub account_id: i64,
    pub inbox_id: i64,
    pub contact_id: i64,
    pub assignee_id: Option<i64>,
    pub department_id: Option<i64>,
    pub goal_id: Option<i64>,
    /// `OPEN`, `RESOLVED`, `PENDING`, `SNOOZED`.
    pub status: String,
    pub unread_count: i32,
    /// Content of the last message, if any.
    pub last_message: Option<String>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub snoozed_until: Option<DateTime<Utc>>,
    pub agent_last_seen_at: Option<DateTime<Utc>>,
    pub contact_last_seen_at: Option<DateTime<Utc>>,
    pub metadata: Option<Value>,
    pub reason: Option<String>,
    pub additional_attributes: Value,
    pub custom_attributes: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageSnap {
    pub id: i64,
    pub conversation_id: i64,
    /// `CONTACT`, `USER`, `BOT`.
    pub sender_type: String,
    pub sender_id: Option<i64>,
    /// `INCOMING`, `OUTGOING`, `ACTIVITY`, `TEMPLATE`.
    pub message_type: String,
    pub content: Option<String>,
    /// `TEXT`, `IMAGE`, `VIDEO`, `DOCUMENT`, `AUDIO`, …
    pub content_type: String,
    pub media_url: Option<String>,
    pub source_id: Option<String>,
    pub external_id: Option<String>,
    /// `SENT`, `DELIVERED`, `READ`, `FAILED`.
    pub delivery_status: String,
    pub private: bool,
    pub content_attributes: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One changed conversation attribute (seed 002 `changed_attributes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub attribute: String,
    pub previous_value: Value,
    pub current_value: Value,
}

/// The live-chat widget was opened (seed 002 `webwidget_triggered`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WidgetSnap {
    pub source_id: String,
    /// `initiated_at`, `referer`, `widget_language`, `browser_language`, `browser{…}`.
    pub event_info: Value,
}

/// Everything an event carries. Which parts are present depends on the event:
/// - `contact_*`: account, contact;
/// - `conversation_*`: account, inbox, channel, contact, contact_inbox, conversation, assignee,
///   last_message (and `changes` for `conversation_updated`);
/// - `message_*`: all of the above plus message and, for USER senders, sender_user
///   (and `previous_delivery_status` when `message_updated` changed it);
/// - `webwidget_triggered`: account, inbox, channel, contact, contact_inbox, conversation (may be none), widget;
/// - partner events: account and `partner` (the seed 003 fields).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventData {
    pub account: Option<AccountSnap>,
    pub inbox: Option<InboxSnap>,
    pub channel: Option<ChannelSnap>,
    pub contact: Option<ContactSnap>,
    pub contact_inbox: Option<ContactInboxSnap>,
    pub conversation: Option<ConversationSnap>,
    pub assignee: Option<UserSnap>,
    pub message: Option<MessageSnap>,
    pub sender_user: Option<UserSnap>,
    /// The conversation's last message (for conversation events' `messages` arrays).
    pub last_message: Option<MessageSnap>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    pub previous_delivery_status: Option<String>,
    pub widget: Option<WidgetSnap>,
    /// Partner event fields exactly as seed 003 names them (`whatsapp`, `builderID`, …).
    pub partner: Option<Value>,
}

/// An event as the payload formats see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: i64,
    /// Name as receivers see it, e.g. `message_created`.
    pub event_type: String,
    pub created_at: DateTime<Utc>,
    pub data: EventData,
}
