use chrono::Utc;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode, errors::ErrorKind,
};
use serde::{Deserialize, Serialize};

use crate::crypto::Keys;

pub const ISSUER: &str = "switchboard";
/// Partner access tokens (seed 003) have their own issuer, so a login token is never a partner
/// token and the other way round.
pub const PARTNER_ISSUER: &str = "switchboard-partner";

/// Claims of a login token: `sub` is the user id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

pub fn issue_jwt(
    keys: &Keys,
    user_id: i64,
    ttl: std::time::Duration,
) -> (String, chrono::DateTime<Utc>) {
    issue(keys, ISSUER, user_id, ttl)
}

/// A partner access token: `sub` is the partner id.
pub fn issue_partner_jwt(
    keys: &Keys,
    partner_id: i64,
    ttl: std::time::Duration,
) -> (String, chrono::DateTime<Utc>) {
    issue(keys, PARTNER_ISSUER, partner_id, ttl)
}

fn issue(
    keys: &Keys,
    issuer: &str,
    subject: i64,
    ttl: std::time::Duration,
) -> (String, chrono::DateTime<Utc>) {
    let now = Utc::now();
    let exp = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(12));
    let claims = Claims {
        sub: subject.to_string(),
        iss: issuer.into(),
        iat: now.timestamp(),
        exp: exp.timestamp(),
    };
    let token = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(keys.jwt_key()),
    )
    .expect("HS256 encoding of plain claims cannot fail");
    (token, exp)
}

/// Verifies signature, algorithm (HS256 only), issuer and expiry; the error says why not.
pub fn verify_jwt(keys: &Keys, token: &str) -> Result<Claims, String> {
    verify(keys, ISSUER, token)
}

/// Same checks as [`verify_jwt`], for partner access tokens.
pub fn verify_partner_jwt(keys: &Keys, token: &str) -> Result<Claims, String> {
    verify(keys, PARTNER_ISSUER, token)
}

fn verify(keys: &Keys, issuer: &str, token: &str) -> Result<Claims, String> {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_issuer(&[issuer]);
    v.set_required_spec_claims(&["exp", "iss", "sub"]);
    v.leeway = 0;
    decode::<Claims>(token, &DecodingKey::from_secret(keys.jwt_key()), &v)
        .map(|d| d.claims)
        .map_err(|e| {
            match e.kind() {
                ErrorKind::ExpiredSignature => "token expired",
                ErrorKind::InvalidSignature => "bad signature",
                ErrorKind::InvalidAlgorithm => "algorithm not allowed",
                ErrorKind::InvalidIssuer => "wrong issuer",
                _ => "malformed token",
            }
            .to_string()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_only_with_its_key_and_algorithm() {
        let k = Keys::from_master("a");
        let (t, _) = issue_jwt(&k, 7, std::time::Duration::from_secs(60));
        assert_eq!(verify_jwt(&k, &t).unwrap().sub, "7");
        assert_eq!(
            verify_jwt(&Keys::from_master("b"), &t).unwrap_err(),
            "bad signature"
        );
        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &Claims {
                sub: "7".into(),
                iss: ISSUER.into(),
                iat: 0,
                exp: Utc::now().timestamp() + 60,
            },
            &EncodingKey::from_secret(k.jwt_key()),
        )
        .unwrap();
        assert_eq!(verify_jwt(&k, &hs512).unwrap_err(), "algorithm not allowed");
    }
}
