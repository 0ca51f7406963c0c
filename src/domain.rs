//! Input rules, in one place. Every check pushes a [`UserError`] naming the input field, so a
//! mutation reports all problems at once and stores nothing.
//!
//! Limits (documented in the README): names 1..=255 chars, emails ≤ 320 and `local@domain.tld`,
//! phone numbers `+` optional then 6..=15 digits (spaces, dashes, dots and parentheses ignored),
//! URLs http/https with a host and ≤ 2048 chars, message content ≤ 64 KiB, JSON attributes ≤ 64 KiB.

use crate::error::{Error, Result, UserError};

pub const NAME_MAX: usize = 255;
pub const URL_MAX: usize = 2048;
pub const EMAIL_MAX: usize = 320;
pub const CONTENT_MAX: usize = 64 * 1024;
pub const JSON_MAX: usize = 64 * 1024;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 1024;

#[derive(Default)]
pub struct Checks(Vec<UserError>);

impl Checks {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, field: &str, code: &str, message: impl Into<String>) {
        self.0.push(UserError::new(field, code, message));
    }

    /// A required string: trimmed, not blank, at most `max` characters.
    pub fn required(&mut self, field: &str, value: &str, max: usize) -> String {
        let v = value.trim();
        if v.is_empty() {
            self.push(field, "BLANK", "can't be blank");
        } else {
            self.max_len(field, v, max);
        }
        v.to_string()
    }

    /// An optional string: trimmed, blank becomes `None`.
    pub fn optional(&mut self, field: &str, value: Option<&str>, max: usize) -> Option<String> {
        let v = value.map(str::trim).filter(|v| !v.is_empty())?;
        self.max_len(field, v, max);
        Some(v.to_string())
    }

    pub fn max_len(&mut self, field: &str, v: &str, max: usize) {
        let n = v.chars().count();
        if n > max {
            self.push(
                field,
                "TOO_LONG",
                format!("is too long ({n} characters; the maximum is {max})"),
            );
        }
    }

    pub fn email(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        let v = self.optional(field, value, EMAIL_MAX)?.to_lowercase();
        if !is_email(&v) {
            self.push(field, "INVALID", "is not a valid email address");
        }
        Some(v)
    }

    pub fn phone(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        let v = self.optional(field, value, 32)?;
        match normalize_phone(&v) {
            Some(p) => Some(p),
            None => {
                self.push(
                    field,
                    "INVALID",
                    "is not a valid phone number (optional +, then 6 to 15 digits)",
                );
                Some(v)
            }
        }
    }

    pub fn url(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        let v = self.optional(field, value, URL_MAX)?;
        if let Err(why) = check_url(&v) {
            self.push(field, "INVALID", why);
        }
        Some(v)
    }

    pub fn json_object(&mut self, field: &str, value: &serde_json::Value) {
        if !value.is_object() {
            self.push(field, "INVALID", "must be a JSON object");
        } else if value.to_string().len() > JSON_MAX {
            self.push(
                field,
                "TOO_LONG",
                format!("is larger than {JSON_MAX} bytes"),
            );
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.0))
        }
    }
}

pub fn is_email(v: &str) -> bool {
    let Some((local, domain)) = v.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !local.contains(char::is_whitespace)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
}

/// Keeps a leading `+` and the digits; `None` when the result is not 6..=15 digits.
pub fn normalize_phone(v: &str) -> Option<String> {
    let plus = v.starts_with('+');
    let body = if plus { &v[1..] } else { v };
    if !body
        .chars()
        .all(|c| c.is_ascii_digit() || " -.()".contains(c))
    {
        return None;
    }
    let digits: String = body.chars().filter(char::is_ascii_digit).collect();
    (6..=15)
        .contains(&digits.len())
        .then(|| if plus { format!("+{digits}") } else { digits })
}

/// http/https with a host, at most [`URL_MAX`] characters.
pub fn check_url(v: &str) -> Result<url::Url, String> {
    if v.len() > URL_MAX {
        return Err(format!("is longer than {URL_MAX} characters"));
    }
    let u = url::Url::parse(v).map_err(|e| format!("is not a valid URL ({e})"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err("must start with http:// or https://".into());
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("must have a host".into());
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_normalized_or_refused() {
        assert_eq!(
            normalize_phone("+972 50-123-4567").as_deref(),
            Some("+972501234567")
        );
        assert_eq!(normalize_phone("1234567890").as_deref(), Some("1234567890"));
        assert_eq!(normalize_phone("12345"), None);
        assert_eq!(normalize_phone("call me"), None);
        assert_eq!(normalize_phone("+1234567890123456"), None);
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(is_email("john.doe@example.com"));
        assert!(!is_email("john"));
        assert!(!is_email("@example.com"));
        assert!(!is_email("a@b"));
        assert!(!is_email("a b@example.com"));
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(check_url("https://example.com/hook").is_ok());
        assert!(check_url("ftp://example.com").is_err());
        assert!(check_url("not a url").is_err());
        assert!(check_url(&format!("https://e.com/{}", "a".repeat(2048))).is_err());
    }
}
