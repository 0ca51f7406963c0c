//! sea-orm entities of Switchboard, one module per table of `docs/data-model.md`.
//!
//! The schema itself is owned by the `migration` crate; these models mirror it column for
//! column. Enums are stored as their SCREAMING_SNAKE_CASE text (see [`enums`]). Every
//! `ActiveModelBehavior` stamps `updated_at` on each save and `created_at` on insert when the
//! caller left it unset, so callers never set timestamps by hand.

/// Implements `ActiveModelBehavior` for the `ActiveModel` in scope, stamping the listed
/// timestamp columns (`created_at` and/or `updated_at`) in `before_save`.
macro_rules! timestamped {
    ($($column:ident),+ $(,)?) => {
        #[sea_orm::prelude::async_trait::async_trait]
        impl sea_orm::ActiveModelBehavior for ActiveModel {
            async fn before_save<C>(mut self, _db: &C, insert: bool) -> Result<Self, sea_orm::DbErr>
            where
                C: sea_orm::ConnectionTrait,
            {
                let now = chrono::Utc::now();
                $($crate::stamp::$column(&mut self.$column, now, insert);)+
                Ok(self)
            }
        }
    };
}

pub mod enums;

pub mod account;
pub mod account_user;
pub mod agent_presence;
pub mod api_token;
pub mod bot_connection;
pub mod channel;
pub mod contact;
pub mod contact_inbox;
pub mod contact_meta;
pub mod contact_tag;
pub mod conversation;
pub mod delivery;
pub mod delivery_attempt;
pub mod event;
pub mod inbox;
pub mod message;
pub mod partner;
pub mod setting;
pub mod story;
pub mod tag;
pub mod user;
pub mod webhook_subscription;

pub mod prelude {
    pub use crate::account::Entity as Account;
    pub use crate::account_user::Entity as AccountUser;
    pub use crate::agent_presence::Entity as AgentPresence;
    pub use crate::api_token::Entity as ApiToken;
    pub use crate::bot_connection::Entity as BotConnection;
    pub use crate::channel::Entity as Channel;
    pub use crate::contact::Entity as Contact;
    pub use crate::contact_inbox::Entity as ContactInbox;
    pub use crate::contact_meta::Entity as ContactMeta;
    pub use crate::contact_tag::Entity as ContactTag;
    pub use crate::conversation::Entity as Conversation;
    pub use crate::delivery::Entity as Delivery;
    pub use crate::delivery_attempt::Entity as DeliveryAttempt;
    pub use crate::event::Entity as Event;
    pub use crate::inbox::Entity as Inbox;
    pub use crate::message::Entity as Message;
    pub use crate::partner::Entity as Partner;
    pub use crate::setting::Entity as Setting;
    pub use crate::story::Entity as Story;
    pub use crate::tag::Entity as Tag;
    pub use crate::user::Entity as User;
    pub use crate::webhook_subscription::Entity as WebhookSubscription;
}

#[doc(hidden)]
pub mod stamp {
    use sea_orm::ActiveValue::{self, Set};
    use sea_orm::prelude::DateTimeUtc;

    pub fn created_at(value: &mut ActiveValue<DateTimeUtc>, now: DateTimeUtc, insert: bool) {
        if insert && value.is_not_set() {
            *value = Set(now);
        }
    }

    pub fn updated_at(value: &mut ActiveValue<DateTimeUtc>, now: DateTimeUtc, _insert: bool) {
        *value = Set(now);
    }
}
