//! Global object ids (`gid://switchboard/<Type>/<id>`, Shopify style: readable, but treat them
//! as opaque) and connection cursors.

use async_graphql::ID;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::error::{Error, Result};

const PREFIX: &str = "gid://switchboard/";

pub fn encode(kind: &str, id: i64) -> ID {
    ID(format!("{PREFIX}{kind}/{id}"))
}

/// Splits a global id into its type name and database id.
pub fn parse(id: &str) -> Option<(&str, i64)> {
    let (kind, n) = id.strip_prefix(PREFIX)?.split_once('/')?;
    let n = n.parse::<i64>().ok().filter(|n| *n > 0)?;
    Some((kind, n))
}

/// The database id of a global id of type `kind`, or a `userErrors`-style error on `field`.
pub fn decode(id: &ID, kind: &str, field: &str) -> Result<i64> {
    match parse(id) {
        Some((k, n)) if k == kind => Ok(n),
        _ => Err(Error::invalid(
            field,
            "INVALID",
            format!(
                "`{}` is not a {kind} id (gid://switchboard/{kind}/<n>)",
                id.as_str()
            ),
        )),
    }
}

/// Like [`decode`] for query arguments (a plain `BAD_USER_INPUT` error).
pub fn decode_arg(id: &ID, kind: &str) -> Result<i64> {
    match parse(id) {
        Some((k, n)) if k == kind => Ok(n),
        _ => Err(Error::BadInput(format!(
            "`{}` is not a {kind} id",
            id.as_str()
        ))),
    }
}

pub fn opt(id: Option<&ID>, kind: &str, field: &str) -> Result<Option<i64>> {
    id.map(|i| decode(i, kind, field)).transpose()
}

pub fn cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("c:{id}"))
}

pub fn parse_cursor(c: Option<&str>) -> Result<Option<i64>> {
    let Some(c) = c else { return Ok(None) };
    URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("c:").and_then(|n| n.parse().ok()))
        .map(Some)
        .ok_or_else(|| Error::BadInput("`after` is not a cursor returned by this API".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_cursors_round_trip_and_reject_foreign_shapes() {
        let id = encode("Account", 42);
        assert_eq!(decode(&id, "Account", "accountId").unwrap(), 42);
        assert!(decode(&id, "Inbox", "inboxId").is_err());
        assert!(decode(&ID("42".into()), "Account", "accountId").is_err());
        assert!(decode(&ID("gid://switchboard/Account/-1".into()), "Account", "a").is_err());
        assert_eq!(parse_cursor(Some(&cursor(7))).unwrap(), Some(7));
        assert!(parse_cursor(Some("nope")).is_err());
    }
}
