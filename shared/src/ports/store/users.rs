//! Users' last activity (the churn remover's "inactive users").

use super::StoreError;
use crate::domain::UserId;
use async_trait::async_trait;
use time::OffsetDateTime;

/// A user's profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProfile {
    pub user_id: UserId,
    pub last_active_at: Option<OffsetDateTime>,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Records that `user` was active at `now` (never moves the time backwards; an adapter may skip
    /// writes for a user it recorded recently).
    async fn touch_user(&self, user: &UserId, now: OffsetDateTime) -> Result<(), StoreError>;

    async fn get_user(&self, user: &UserId) -> Result<Option<UserProfile>, StoreError>;
}
