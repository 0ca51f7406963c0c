use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Declares a string-stored enum: the stored text, the serde name and `as_str` are the same
/// SCREAMING_SNAKE_CASE value.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $value:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize,
            Deserialize,
        )]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name {
            $(
                #[sea_orm(string_value = $value)]
                $variant,
            )+
        }

        impl $name {
            /// The stored (and GraphQL) value.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $(Self::$variant => $value,)+
                }
            }
        }
    };
}

string_enum! {
    /// A story (bot flow) is built as a draft, then published.
    StoryStatus {
        Draft => "DRAFT",
        Published => "PUBLISHED",
    }
}

string_enum! {
    /// Role of a user in an account (also the scope of an API token).
    Role {
        Administrator => "ADMINISTRATOR",
        Agent => "AGENT",
    }
}

string_enum! {
    /// Transport of a channel.
    ChannelKind {
        Whatsapp => "WHATSAPP",
        WebWidget => "WEB_WIDGET",
        Api => "API",
        Sms => "SMS",
        Email => "EMAIL",
        Messenger => "MESSENGER",
        Telegram => "TELEGRAM",
        Instagram => "INSTAGRAM",
        Line => "LINE",
        Other => "OTHER",
    }
}

string_enum! {
    /// Environment of a channel.
    ChannelEnv {
        Live => "LIVE",
        Test => "TEST",
    }
}

string_enum! {
    /// Lifecycle status of a channel.
    ChannelStatus {
        Active => "ACTIVE",
        Inactive => "INACTIVE",
        Pending => "PENDING",
        Disabled => "DISABLED",
    }
}

string_enum! {
    /// Status of a conversation.
    ConversationStatus {
        Open => "OPEN",
        Resolved => "RESOLVED",
        Pending => "PENDING",
        Snoozed => "SNOOZED",
    }
}

string_enum! {
    /// Who sent a message.
    SenderType {
        Contact => "CONTACT",
        User => "USER",
        Bot => "BOT",
    }
}

string_enum! {
    /// Direction / nature of a message.
    MessageType {
        Incoming => "INCOMING",
        Outgoing => "OUTGOING",
        Activity => "ACTIVITY",
        Template => "TEMPLATE",
    }
}

string_enum! {
    /// Content type of a message.
    ContentType {
        Text => "TEXT",
        Image => "IMAGE",
        Video => "VIDEO",
        Document => "DOCUMENT",
        Audio => "AUDIO",
        Location => "LOCATION",
        Sticker => "STICKER",
        ContactCard => "CONTACT_CARD",
        InputSelect => "INPUT_SELECT",
        Cards => "CARDS",
        Form => "FORM",
        Article => "ARTICLE",
        Buttons => "BUTTONS",
        QuickReplies => "QUICK_REPLIES",
    }
}

string_enum! {
    /// Delivery status of a message.
    MessageDeliveryStatus {
        Sent => "SENT",
        Delivered => "DELIVERED",
        Read => "READ",
        Failed => "FAILED",
    }
}

string_enum! {
    /// Payload format of a webhook subscription.
    PayloadFormat {
        Standard => "STANDARD",
        Chatwoot => "CHATWOOT",
        FlatMessage => "FLAT_MESSAGE",
        NewMessage => "NEW_MESSAGE",
        Partner => "PARTNER",
    }
}

string_enum! {
    /// Delivery state of a webhook subscription.
    SubscriptionState {
        Enabled => "ENABLED",
        Paused => "PAUSED",
        Disabled => "DISABLED",
    }
}

string_enum! {
    /// Where a webhook delivery stands.
    DeliveryStatus {
        Pending => "PENDING",
        Succeeded => "SUCCEEDED",
        Retrying => "RETRYING",
        Failed => "FAILED",
        Cancelled => "CANCELLED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ActiveEnum, Iterable};

    fn check<E>(as_str: fn(&E) -> &'static str)
    where
        E: ActiveEnum<Value = String>
            + Iterable
            + Serialize
            + for<'de> Deserialize<'de>
            + Eq
            + std::fmt::Debug,
    {
        for v in E::iter() {
            let stored = v.to_value();
            assert_eq!(stored, as_str(&v));
            assert!(stored.len() <= 32);
            let json = serde_json::to_value(&v).unwrap();
            assert_eq!(json, serde_json::Value::String(stored.clone()));
            assert_eq!(serde_json::from_value::<E>(json).unwrap(), v);
            assert_eq!(E::try_from_value(&stored).unwrap(), v);
        }
    }

    #[test]
    fn stored_serde_and_as_str_agree() {
        check(Role::as_str);
        check(ChannelKind::as_str);
        check(ChannelEnv::as_str);
        check(ChannelStatus::as_str);
        check(ConversationStatus::as_str);
        check(SenderType::as_str);
        check(MessageType::as_str);
        check(ContentType::as_str);
        check(MessageDeliveryStatus::as_str);
        check(PayloadFormat::as_str);
        check(SubscriptionState::as_str);
        check(StoryStatus::as_str);
    }
}
