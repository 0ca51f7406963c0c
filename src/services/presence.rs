//! Agents' online presence per inbox. A change emits the partner `online` event (seed 003):
//! code 1 when the agent goes online, 2 when they go offline.

use entity::{agent_presence, inbox};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use super::load_owned;
use crate::{
    auth::Principal,
    error::{Error, Result},
    events::partner::{PartnerEvent, emit},
};

/// Sets whether `user_id` (default: the caller) is online in the inbox. Agents set their own
/// presence; administrators may set anyone's in their account.
pub async fn set(
    db: &DatabaseConnection,
    server: &str,
    principal: &Principal,
    inbox_id: i64,
    user_id: Option<i64>,
    online: bool,
) -> Result<agent_presence::Model> {
    let (ib, role) =
        load_owned::<inbox::Entity, _>(db, principal, inbox_id, "inbox", Some("inboxId")).await?;
    let me = principal.user_id();
    let user_id = match (user_id, me) {
        (Some(u), _) => u,
        (None, Some(me)) => me,
        (None, None) => {
            return Err(Error::invalid(
                "userId",
                "BLANK",
                "an API token must say which agent (userId)",
            ));
        }
    };
    if Some(user_id) != me {
        super::require_role_admin(role)?;
    }
    if !super::is_member(db, ib.account_id, user_id).await? {
        return Err(Error::not_found_in("user", "userId"));
    }
    let txn = crate::db::begin_write(db).await?;
    let existing = agent_presence::Entity::find()
        .filter(agent_presence::Column::InboxId.eq(inbox_id))
        .filter(agent_presence::Column::UserId.eq(user_id))
        .one(&txn)
        .await?;
    let was = existing.as_ref().map(|p| p.online);
    let saved = match existing {
        Some(p) if p.online == online => p,
        Some(p) => {
            let mut am: agent_presence::ActiveModel = p.into();
            am.online = Set(online);
            am.update(&txn).await?
        }
        None => {
            agent_presence::ActiveModel {
                account_id: Set(ib.account_id),
                inbox_id: Set(inbox_id),
                user_id: Set(user_id),
                online: Set(online),
                ..Default::default()
            }
            .insert(&txn)
            .await?
        }
    };
    // A first "offline" for someone never seen online is no change worth announcing.
    if was != Some(online) && (online || was.is_some()) {
        emit(
            &txn,
            ib.account_id,
            PartnerEvent::Online {
                inbox_id,
                agent_id: user_id,
                extra_info: if online { 1 } else { 2 },
                server: server.to_string(),
            },
        )
        .await?;
    }
    txn.commit().await?;
    crate::delivery::events_committed();
    Ok(saved)
}
