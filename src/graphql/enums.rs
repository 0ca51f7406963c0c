//! GraphQL mirrors of the stored enums (same values, SCREAMING_CASE).

use async_graphql::Enum;
use entity::enums as e;

macro_rules! mirror {
    ($name:ident, $remote:literal, $doc:literal, [$($v:ident),* $(,)?]) => {
        #[doc = $doc]
        #[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
        #[graphql(remote = $remote)]
        pub enum $name { $($v),* }
    };
}

mirror!(
    Role,
    "e::Role",
    "A member's role in an account.",
    [Administrator, Agent]
);
mirror!(
    ChannelKind,
    "e::ChannelKind",
    "What a channel connects to.",
    [
        Whatsapp, WebWidget, Api, Sms, Email, Messenger, Telegram, Instagram, Line, Other
    ]
);
mirror!(
    ChannelEnv,
    "e::ChannelEnv",
    "Live or test channel.",
    [Live, Test]
);
mirror!(
    ChannelStatus,
    "e::ChannelStatus",
    "Channel availability.",
    [Active, Inactive, Pending, Disabled]
);
mirror!(
    ConversationStatus,
    "e::ConversationStatus",
    "Conversation state.",
    [Open, Resolved, Pending, Snoozed]
);
mirror!(
    SenderType,
    "e::SenderType",
    "Who wrote a message.",
    [Contact, User, Bot]
);
mirror!(
    MessageType,
    "e::MessageType",
    "Direction or kind of a message.",
    [Incoming, Outgoing, Activity, Template]
);
mirror!(
    ContentType,
    "e::ContentType",
    "What a message carries.",
    [
        Text,
        Image,
        Video,
        Document,
        Audio,
        Location,
        Sticker,
        ContactCard,
        InputSelect,
        Cards,
        Form,
        Article,
        Buttons,
        QuickReplies
    ]
);
mirror!(
    MessageDeliveryStatus,
    "e::MessageDeliveryStatus",
    "Delivery state of a message to the contact.",
    [Sent, Delivered, Read, Failed]
);
mirror!(
    PayloadFormat,
    "e::PayloadFormat",
    "Body shape of a webhook delivery.",
    [Standard, Chatwoot, FlatMessage, NewMessage, Partner]
);
mirror!(
    SubscriptionState,
    "e::SubscriptionState",
    "Whether a subscription receives deliveries.",
    [Enabled, Paused, Disabled]
);
mirror!(
    DeliveryStatus,
    "e::DeliveryStatus",
    "Where a webhook delivery stands.",
    [Pending, Succeeded, Retrying, Failed, Cancelled]
);
mirror!(
    StoryStatus,
    "e::StoryStatus",
    "A story (bot flow) is built as a draft, then published.",
    [Draft, Published]
);
