use std::{net::IpAddr, num::NonZeroU32, sync::Arc};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};

/// Login attempts per minute, limited per email and per client IP (in this instance's memory).
#[derive(Clone)]
pub struct LoginLimiter {
    by_email: Arc<DefaultKeyedRateLimiter<String>>,
    by_ip: Arc<DefaultKeyedRateLimiter<IpAddr>>,
}

impl LoginLimiter {
    pub fn new(per_minute: u32) -> Self {
        let per_email = NonZeroU32::new(per_minute.max(1)).expect("max(1) is non-zero");
        // One IP may try several emails (an office behind NAT), so it gets a larger budget.
        let per_ip = NonZeroU32::new(per_minute.max(1).saturating_mul(3)).expect("non-zero");
        Self {
            by_email: Arc::new(RateLimiter::keyed(Quota::per_minute(per_email))),
            by_ip: Arc::new(RateLimiter::keyed(Quota::per_minute(per_ip))),
        }
    }

    /// `Err(seconds)` until the next attempt is allowed.
    pub fn check(&self, email: &str, ip: Option<IpAddr>) -> Result<(), u64> {
        let clock = governor::clock::DefaultClock::default();
        let wait = |nu: governor::NotUntil<_>| nu.wait_time_from(clock.now()).as_secs().max(1);
        self.by_email
            .check_key(&email.to_lowercase())
            .map_err(wait)?;
        if let Some(ip) = ip {
            self.by_ip.check_key(&ip).map_err(wait)?;
        }
        Ok(())
    }
}
