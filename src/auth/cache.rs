//! A short-lived cache of resolved bearer tokens. Authentication otherwise costs one or two
//! database round trips per request (the user and their memberships, or the API token), which
//! is most of a small request's database time.
//!
//! Entries live `ttl` (default 1 s). Any change to users, memberships, accounts or tokens made
//! through this instance clears the cache at once; other instances of a scale-out see it after at
//! most `ttl`. API token expiry is checked on every hit, and JWTs are always verified in full
//! (only the database lookup behind them is cached).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};

use super::Principal;

/// Bounded: a burst of distinct tokens clears the cache rather than growing it.
const MAX_ENTRIES: usize = 10_000;

#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Key {
    User(i64),
    /// The SHA-256 of an API token, as stored.
    Token(String),
}

struct Entry {
    principal: Principal,
    expires_at: Option<DateTime<Utc>>,
    cached_at: Instant,
}

#[derive(Clone)]
pub struct PrincipalCache {
    ttl: Duration,
    inner: Arc<Mutex<HashMap<Key, Entry>>>,
}

impl PrincipalCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            inner: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub fn get(&self, key: &Key) -> Option<Principal> {
        if self.ttl.is_zero() {
            return None;
        }
        let mut map = self.inner.lock().expect("principal cache lock");
        let fresh = map.get(key).is_some_and(|e| {
            e.cached_at.elapsed() < self.ttl && e.expires_at.is_none_or(|x| x > Utc::now())
        });
        if fresh {
            map.get(key).map(|e| e.principal.clone())
        } else {
            map.remove(key);
            None
        }
    }

    /// Caches a valid principal; invalid ones are always looked up again.
    pub fn put(&self, key: Key, principal: &Principal, expires_at: Option<DateTime<Utc>>) {
        if self.ttl.is_zero()
            || !matches!(
                principal,
                Principal::User { .. } | Principal::ApiToken { .. }
            )
        {
            return;
        }
        let mut map = self.inner.lock().expect("principal cache lock");
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(
            key,
            Entry {
                principal: principal.clone(),
                expires_at,
                cached_at: Instant::now(),
            },
        );
    }

    /// Forgets everything; called after any change to who may do what.
    pub fn clear(&self) {
        self.inner.lock().expect("principal cache lock").clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entity::enums::Role;

    fn token_principal() -> Principal {
        Principal::ApiToken {
            token_id: 1,
            account_id: 2,
            role: Role::Agent,
        }
    }

    #[test]
    fn hits_until_ttl_then_misses() {
        let c = PrincipalCache::new(Duration::from_millis(50));
        let k = Key::Token("h".into());
        c.put(k.clone(), &token_principal(), None);
        assert!(c.get(&k).is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(c.get(&k).is_none());
    }

    #[test]
    fn expired_token_misses_and_invalid_is_not_cached() {
        let c = PrincipalCache::new(Duration::from_secs(60));
        let k = Key::Token("h".into());
        c.put(
            k.clone(),
            &token_principal(),
            Some(Utc::now() - chrono::Duration::seconds(1)),
        );
        assert!(c.get(&k).is_none());
        c.put(Key::User(1), &Principal::Invalid("no".into()), None);
        assert!(c.get(&Key::User(1)).is_none());
    }

    #[test]
    fn clear_and_zero_ttl() {
        let c = PrincipalCache::new(Duration::from_secs(60));
        c.put(Key::User(1), &token_principal(), None);
        c.clear();
        assert!(c.get(&Key::User(1)).is_none());
        let off = PrincipalCache::new(Duration::ZERO);
        off.put(Key::User(1), &token_principal(), None);
        assert!(off.get(&Key::User(1)).is_none());
    }
}
