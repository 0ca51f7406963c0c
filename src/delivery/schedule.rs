//! The retry schedule and the decision after each attempt, as pure functions.
//!
//! Attempt n+1 waits `base * 2^(n-1)` (±10 % jitter) after attempt n fails, for at most
//! `max_retries` retries: with the defaults 7 s, 14 s, 28 s … 3584 s (≈ 1 h), 10 retries.
//! `Retry-After` on 429/503 is honoured up to [`RETRY_AFTER_MAX`]. `410 Gone` ends the
//! delivery and disables the subscription at once.

use std::time::Duration;

/// Longest `Retry-After` honoured; longer values fall back to the schedule's cap.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub base: Duration,
    pub max_retries: u32,
}

/// Why an attempt did not succeed, as stored in the attempt log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Timeout,
    Connect,
    Tls,
    HttpStatus,
    Blocked,
    Redirect,
    Body,
    Other,
}

impl ErrorKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::Timeout => "TIMEOUT",
            ErrorKind::Connect => "CONNECT",
            ErrorKind::Tls => "TLS",
            ErrorKind::HttpStatus => "HTTP_STATUS",
            ErrorKind::Blocked => "BLOCKED",
            ErrorKind::Redirect => "REDIRECT",
            ErrorKind::Body => "BODY",
            ErrorKind::Other => "OTHER",
        }
    }
}

/// What one attempt observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// The receiver answered with this status (and maybe `Retry-After`, in seconds).
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// No usable answer.
    Error(ErrorKind),
}

/// How a delivery goes on after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// Try again after this delay.
    Retry {
        after: Duration,
    },
    /// Retries exhausted (or the destination is refused for good).
    Failed,
    /// `410 Gone`: the receiver asked us to stop; the subscription is disabled.
    Gone,
}

impl Schedule {
    /// Delay before attempt `attempt + 1`, given that attempt number `attempt` (1-based) failed;
    /// `jitter` in [-1, 1] scales ±10 %.
    pub fn delay_after(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let d = self.base.saturating_mul(1u32 << exp);
        d.mul_f64(1.0 + 0.1 * jitter.clamp(-1.0, 1.0))
    }

    /// The decision after attempt number `attempt` (1-based).
    pub fn decide(&self, attempt: u32, observed: &Observed, jitter: f64) -> Outcome {
        let retry_after = match observed {
            Observed::Status { code, .. } if (200..300).contains(code) => {
                return Outcome::Succeeded;
            }
            Observed::Status { code: 410, .. } => return Outcome::Gone,
            Observed::Status {
                code: 429 | 503,
                retry_after,
            } => *retry_after,
            _ => None,
        };
        if attempt > self.max_retries {
            return Outcome::Failed;
        }
        let after = match retry_after {
            Some(ra) => ra.min(RETRY_AFTER_MAX),
            None => self.delay_after(attempt, jitter),
        };
        Outcome::Retry { after }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Schedule {
        Schedule {
            base: Duration::from_secs(7),
            max_retries: 10,
        }
    }

    fn fail() -> Observed {
        Observed::Status {
            code: 500,
            retry_after: None,
        }
    }

    #[test]
    fn the_default_schedule_doubles_from_7_seconds_for_10_retries() {
        let s = schedule();
        let delays: Vec<u64> = (1..=10).map(|n| s.delay_after(n, 0.0).as_secs()).collect();
        assert_eq!(delays, [7, 14, 28, 56, 112, 224, 448, 896, 1792, 3584]);
        assert_eq!(
            s.decide(10, &fail(), 0.0),
            Outcome::Retry {
                after: Duration::from_secs(3584)
            }
        );
        assert_eq!(
            s.decide(11, &fail(), 0.0),
            Outcome::Failed,
            "the 11th attempt is the last"
        );
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let s = schedule();
        assert_eq!(s.delay_after(1, 1.0), Duration::from_millis(7700));
        assert_eq!(s.delay_after(1, -1.0), Duration::from_millis(6300));
        assert_eq!(
            s.delay_after(1, 5.0),
            Duration::from_millis(7700),
            "clamped"
        );
    }

    #[test]
    fn statuses_map_to_outcomes() {
        let s = schedule();
        let st = |code| Observed::Status {
            code,
            retry_after: None,
        };
        assert_eq!(s.decide(1, &st(200), 0.0), Outcome::Succeeded);
        assert_eq!(s.decide(1, &st(204), 0.0), Outcome::Succeeded);
        assert_eq!(s.decide(1, &st(410), 0.0), Outcome::Gone);
        assert!(
            matches!(s.decide(1, &st(302), 0.0), Outcome::Retry { .. }),
            "redirects are not followed"
        );
        assert!(matches!(
            s.decide(1, &Observed::Error(ErrorKind::Timeout), 0.0),
            Outcome::Retry { .. }
        ));
    }

    #[test]
    fn retry_after_is_honoured_and_bounded() {
        let s = schedule();
        let ra = |secs| Observed::Status {
            code: 429,
            retry_after: Some(Duration::from_secs(secs)),
        };
        assert_eq!(
            s.decide(1, &ra(30), 0.0),
            Outcome::Retry {
                after: Duration::from_secs(30)
            }
        );
        assert_eq!(
            s.decide(1, &ra(999_999), 0.0),
            Outcome::Retry {
                after: RETRY_AFTER_MAX
            }
        );
        assert_eq!(
            s.decide(11, &ra(30), 0.0),
            Outcome::Failed,
            "Retry-After does not add attempts"
        );
    }
}
