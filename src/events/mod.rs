//! The event catalogue: names exactly as receivers see them, and which payload format can
//! carry which event.

pub mod data;
pub mod formats;
pub mod outbox;
pub mod partner;

use entity::enums::PayloadFormat;

/// Events of the object graph (seed 002 plus contacts) and the partner events (seed 003).
pub const EVENT_NAMES: &[&str] = &[
    "conversation_created",
    "conversation_updated",
    "conversation_status_changed",
    "message_created",
    "message_updated",
    "contact_created",
    "contact_updated",
    "webwidget_triggered",
    "whatsapp",
    "builder",
    "online",
];

pub const PARTNER_EVENTS: &[&str] = &["whatsapp", "builder", "online"];

pub fn is_known(name: &str) -> bool {
    EVENT_NAMES.contains(&name)
}

/// The events a format's document defines a payload for.
pub fn format_supports(format: PayloadFormat, event: &str) -> bool {
    match format {
        PayloadFormat::Standard => true,
        PayloadFormat::Chatwoot => !PARTNER_EVENTS.contains(&event),
        PayloadFormat::FlatMessage => matches!(event, "message_created" | "message_updated"),
        PayloadFormat::NewMessage => event == "message_created",
        PayloadFormat::Partner => PARTNER_EVENTS.contains(&event),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_accept_only_the_events_their_document_defines() {
        assert!(format_supports(
            PayloadFormat::FlatMessage,
            "message_updated"
        ));
        assert!(!format_supports(
            PayloadFormat::FlatMessage,
            "conversation_created"
        ));
        assert!(!format_supports(
            PayloadFormat::NewMessage,
            "message_updated"
        ));
        assert!(!format_supports(PayloadFormat::Partner, "message_created"));
        assert!(format_supports(PayloadFormat::Partner, "online"));
        assert!(!format_supports(PayloadFormat::Chatwoot, "whatsapp"));
        assert!(
            EVENT_NAMES
                .iter()
                .all(|e| format_supports(PayloadFormat::Standard, e))
        );
    }
}
