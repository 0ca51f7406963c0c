//! Webhook connections REST API (seed 004): `GET|POST /v2/integrations/webhook`,
//! `GET|PUT|DELETE /v2/integrations/webhook/{id}`, with `Authorization: Bearer <API token>`.
//!
//! Bodies are the document's. Errors: `{"timestamp", "status": {"code", "type"}, "error":
//! {"field", "message"}, "errors": [{"field", "message"}…]}` with 400 (validation; `field`
//! names the request field as the document does, e.g. `auth.username`), 401 (no or bad token),
//! 403 (an AGENT token writing), 404 (unknown id, or another account's).

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::{DateTime, SecondsFormat, Utc};
use entity::{bot_connection, story};
use sea_orm::EntityTrait;
use serde_json::{Map, Value, json};

use crate::{
    auth::{self, Principal},
    error::Error,
    services::bot_connections::{self as svc, ConnectionFields, parse_rest_id, rest_id},
    state::AppState,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2/integrations/webhook", get(list).post(create))
        .route(
            "/v2/integrations/webhook/{id}",
            get(show).put(update).delete(remove),
        )
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn status(code: StatusCode, kind: &str) -> Value {
    json!({"code": code.as_u16(), "type": kind})
}

/// The REST error of this API (status, type and the fields at fault).
pub struct Failure {
    code: StatusCode,
    kind: &'static str,
    errors: Vec<(Option<String>, String)>,
}

fn failure(code: StatusCode, kind: &'static str, errors: Vec<(Option<String>, String)>) -> Failure {
    Failure { code, kind, errors }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let list: Vec<Value> = self
            .errors
            .iter()
            .map(|(f, m)| json!({"field": f, "message": m}))
            .collect();
        (
            self.code,
            Json(json!({
                "timestamp": ts(Utc::now()),
                "status": status(self.code, self.kind),
                "error": list.first().cloned().unwrap_or(json!({"field": null, "message": self.kind})),
                "errors": list,
            })),
        )
            .into_response()
    }
}

fn error_response(e: Error) -> Failure {
    match e {
        Error::Invalid(errs) => failure(
            StatusCode::BAD_REQUEST,
            "bad_request",
            errs.into_iter()
                .map(|u| {
                    // `["input", "auth", "username"]` → `auth.username`, the document's name.
                    let field = u.field.map(|f| {
                        f.into_iter()
                            .skip_while(|s| s == "input")
                            .collect::<Vec<_>>()
                            .join(".")
                    });
                    (field, u.message)
                })
                .collect(),
        ),
        Error::BadInput(m) => failure(StatusCode::BAD_REQUEST, "bad_request", vec![(None, m)]),
        Error::NotFound { what, .. } => failure(
            StatusCode::NOT_FOUND,
            "not_found",
            vec![(None, format!("{what} not found"))],
        ),
        Error::Unauthenticated(m) => {
            failure(StatusCode::UNAUTHORIZED, "unauthorized", vec![(None, m)])
        }
        Error::Forbidden(m) => failure(StatusCode::FORBIDDEN, "forbidden", vec![(None, m)]),
        other => {
            let code = other.status();
            let message = other.public_message();
            failure(code, "error", vec![(None, message)])
        }
    }
}

/// The API token's principal and account, or the 401.
async fn caller(st: &AppState, headers: &HeaderMap) -> Result<(Principal, i64), Failure> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let p = auth::resolve_bearer(&st.db, &st.keys, &st.principals, header)
        .await
        .map_err(error_response)?;
    match &p {
        Principal::ApiToken { account_id, .. } => {
            let a = *account_id;
            Ok((p, a))
        }
        Principal::Invalid(why) => Err(error_response(Error::Unauthenticated(format!(
            "invalid token: {why}"
        )))),
        _ => Err(error_response(Error::Unauthenticated(
            "send Authorization: Bearer <API token> (an account's sbt_ token)".into(),
        ))),
    }
}

fn story_json(s: Option<&story::Model>) -> Value {
    match s {
        Some(s) => json!({"id": rest_id(s.id), "name": s.name}),
        None => Value::Null,
    }
}

fn id_of(raw: &str) -> Result<i64, Failure> {
    parse_rest_id(raw).ok_or_else(|| error_response(Error::not_found("webhook connection")))
}

/// Reads the document's request fields, naming the field that has the wrong type.
fn fields(body: &Bytes, with_story: bool) -> Result<(Option<i64>, ConnectionFields), Failure> {
    let bad = |field: &str, message: &str| {
        failure(
            StatusCode::BAD_REQUEST,
            "bad_request",
            vec![(Some(field.to_string()), message.to_string())],
        )
    };
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        failure(
            StatusCode::BAD_REQUEST,
            "bad_request",
            vec![(None, format!("the body is not JSON ({e})"))],
        )
    })?;
    let Some(o) = v.as_object() else {
        return Err(failure(
            StatusCode::BAD_REQUEST,
            "bad_request",
            vec![(None, "the body must be a JSON object".into())],
        ));
    };
    let string = |name: &str, required: bool| -> Result<Option<String>, Failure> {
        match o.get(name) {
            None | Some(Value::Null) if required => Err(bad(name, "is required")),
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(name, "must be a string")),
        }
    };
    let story_id = if with_story {
        let raw = string("storyId", true)?.unwrap_or_default();
        if raw.len() != 24 {
            return Err(bad("storyId", "must be 24 characters"));
        }
        Some(parse_rest_id(&raw).ok_or_else(|| bad("storyId", "no such story in this account"))?)
    } else {
        None
    };
    let name = string("name", true)?.unwrap_or_default();
    let url = string("url", true)?.unwrap_or_default();
    let token = string("token", false)?;
    let headers = match o.get("headers") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => {
            let mut out = Vec::with_capacity(m.len());
            for (k, v) in m {
                let Some(v) = v.as_str() else {
                    return Err(bad("headers", "values must be strings"));
                };
                out.push((k.clone(), v.to_string()));
            }
            Some(out)
        }
        Some(_) => return Err(bad("headers", "must be an object of strings")),
    };
    let auth = match o.get("auth") {
        None | Some(Value::Null) => None,
        Some(Value::Object(a)) => {
            let part = |name: &str| match a.get(name) {
                Some(Value::String(s)) => Ok(s.clone()),
                None | Some(Value::Null) => Err(bad(&format!("auth.{name}"), "is required")),
                Some(_) => Err(bad(&format!("auth.{name}"), "must be a string")),
            };
            Some((part("username")?, part("password")?))
        }
        Some(_) => return Err(bad("auth", "must be an object")),
    };
    Ok((
        story_id,
        ConnectionFields {
            name,
            url,
            token,
            headers,
            auth,
        },
    ))
}

async fn list(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let (p, account) = match caller(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    match svc::all(&st.db, &p, account).await {
        Ok(rows) => Json(
            rows.iter()
                .map(|(c, s)| {
                    json!({
                        "id": rest_id(c.id),
                        "story": story_json(s.as_ref()),
                        "name": c.name,
                        "url": c.url,
                        // The document's list shows `false` when there is no error.
                        "error": c.error.as_ref().map_or(Value::Bool(false), |e| json!(e)),
                        "createdAt": ts(c.created_at),
                        "updatedAt": ts(c.updated_at),
                    })
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => error_response(e).into_response(),
    }
}

async fn create(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (p, account) = match caller(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let (story_id, f) = match fields(&body, true) {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    match svc::create(&st.db, &st.keys, &st.engine.allow, &p, account, story_id, f).await {
        Ok(c) => (
            StatusCode::CREATED,
            Json(json!({
                "id": rest_id(c.id),
                "timestamp": ts(c.created_at),
                "status": status(StatusCode::CREATED, "created"),
            })),
        )
            .into_response(),
        Err(e) => error_response(e).into_response(),
    }
}

fn single(st: &AppState, c: &bot_connection::Model, s: Option<&story::Model>) -> Value {
    let (token, auth) = svc::secrets(&st.keys, c);
    let headers: Map<String, Value> = c.headers.as_object().cloned().unwrap_or_default();
    json!({
        "id": rest_id(c.id),
        "story": story_json(s),
        "name": c.name,
        "url": c.url,
        "token": token,
        "headers": headers,
        "auth": auth.map(|(u, p)| json!({"username": u, "password": p})),
        "error": c.error,
        "createdAt": ts(c.created_at),
        "updatedAt": ts(c.updated_at),
    })
}

async fn show(State(st): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (p, _) = match caller(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let id = match id_of(&id) {
        Ok(i) => i,
        Err(r) => return r.into_response(),
    };
    let c = match svc::get(&st.db, &p, id).await {
        Ok(c) => c,
        Err(e) => return error_response(e).into_response(),
    };
    match story::Entity::find_by_id(c.story_id).one(&st.db).await {
        Ok(s) => Json(single(&st, &c, s.as_ref())).into_response(),
        Err(e) => error_response(e.into()).into_response(),
    }
}

async fn update(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let (p, _) = match caller(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let id = match id_of(&id) {
        Ok(i) => i,
        Err(r) => return r.into_response(),
    };
    let (_, f) = match fields(&body, false) {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    match svc::update(&st.db, &st.keys, &st.engine.allow, &p, id, None, f).await {
        Ok(c) => Json(json!({
            "timestamp": ts(c.updated_at),
            "status": status(StatusCode::OK, "success"),
        }))
        .into_response(),
        Err(e) => error_response(e).into_response(),
    }
}

async fn remove(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (p, _) = match caller(&st, &headers).await {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let id = match id_of(&id) {
        Ok(i) => i,
        Err(r) => return r.into_response(),
    };
    match svc::delete(&st.db, &p, id).await {
        Ok(()) => Json(json!({
            "timestamp": ts(Utc::now()),
            "status": status(StatusCode::OK, "success"),
        }))
        .into_response(),
        Err(e) => error_response(e).into_response(),
    }
}
