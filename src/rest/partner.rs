//! Partner webhook API (seed 003): `POST /partner/v1/token`, `POST|GET /partner/v1/webhook`.
//!
//! Webhook answers are always `{"status": "OK"|"FAIL", "url": …, "reason": n}` (plus `message`
//! on FAIL), with the reason codes of [`Reason`]; the HTTP status says the same (200, 400, 401,
//! 404). The token endpoint answers like an OAuth 2 token endpoint.

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use entity::partner;
use serde_json::{Value, json};

use crate::{
    auth,
    error::Error,
    services::partners::{self, Refusal},
    state::AppState,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/partner/v1/token", post(token))
        .route("/partner/v1/webhook", post(set_webhook).get(get_webhook))
}

/// `reason` codes: 1 OK; 2–7 from [`Refusal`]; 8 unauthorized; 9 internal error.
const OK: u8 = 1;
const UNAUTHORIZED: u8 = 8;
const INTERNAL: u8 = 9;

fn answer(
    status: StatusCode,
    ok: bool,
    url: Option<&str>,
    reason: u8,
    message: Option<&str>,
) -> Response {
    let mut body = json!({
        "status": if ok { "OK" } else { "FAIL" },
        "url": url,
        "reason": reason,
    });
    if let Some(m) = message {
        body["message"] = json!(m);
    }
    (status, Json(body)).into_response()
}

fn refused(r: Refusal, url: Option<&str>) -> Response {
    let status = match r {
        Refusal::NotSet => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    answer(status, false, url, r as u8, Some(r.message()))
}

fn internal(e: Error) -> Response {
    tracing::error!(error = ?e, "partner API request failed");
    answer(
        StatusCode::INTERNAL_SERVER_ERROR,
        false,
        None,
        INTERNAL,
        Some("internal error"),
    )
}

/// The partner a valid access token names, or the 401 answer.
async fn partner_of(st: &AppState, headers: &HeaderMap) -> Result<partner::Model, Response> {
    let unauthorized = |why: &str| {
        answer(
            StatusCode::UNAUTHORIZED,
            false,
            None,
            UNAUTHORIZED,
            Some(&format!("unauthorized: {why}")),
        )
    };
    let Some(token) = super::bearer(headers) else {
        return Err(unauthorized(
            "send Authorization: Bearer <access_token> from POST /partner/v1/token",
        ));
    };
    let claims = auth::verify_partner_jwt(&st.keys, token).map_err(|why| unauthorized(&why))?;
    let Ok(id) = claims.sub.parse::<i64>() else {
        return Err(unauthorized("malformed subject"));
    };
    match partners::find(&st.db, id).await {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(unauthorized("partner no longer exists")),
        Err(e) => Err(internal(e)),
    }
}

async fn token(State(st): State<AppState>, body: Bytes) -> Response {
    let oauth_error = |status: StatusCode, error: &str, description: &str| {
        (
            status,
            Json(json!({"error": error, "error_description": description})),
        )
            .into_response()
    };
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let (Some(id), Some(secret)) = (field("client_id"), field("client_secret")) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send a JSON body with string fields client_id and client_secret",
        );
    };
    match partners::authenticate(&st.db, &id, &secret).await {
        Ok(Some(p)) => {
            let ttl = st.config.partner_token_ttl;
            let (access_token, _) = auth::issue_partner_jwt(&st.keys, p.id, ttl);
            Json(json!({
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": ttl.as_secs(),
            }))
            .into_response()
        }
        Ok(None) => oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client_id or wrong client_secret",
        ),
        Err(e) => {
            tracing::error!(error = ?e, "partner token request failed");
            oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error",
            )
        }
    }
}

async fn set_webhook(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let p = match partner_of(&st, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let url = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("url").and_then(Value::as_str).map(str::to_string));
    let Some(url) = url else {
        return refused(Refusal::MissingUrl, None);
    };
    match partners::set_webhook(&st.db, &st.keys, &st.engine.allow, &p, &url).await {
        Ok(Ok(sub)) => answer(StatusCode::OK, true, Some(&sub.url), OK, None),
        Ok(Err(r)) => refused(r, Some(&url)),
        Err(e) => internal(e),
    }
}

async fn get_webhook(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let p = match partner_of(&st, &headers).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match partners::webhook(&st.db, &p).await {
        Ok(Some(sub)) => answer(StatusCode::OK, true, Some(&sub.url), OK, None),
        Ok(None) => refused(Refusal::NotSet, None),
        Err(e) => internal(e),
    }
}
