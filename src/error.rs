//! One error type for the whole application boundary.
//!
//! Services return [`Error`]; REST renders it as `{"error": {"code", "message"}}` with the
//! matching status, GraphQL as an error with `extensions.code` (`BAD_USER_INPUT`,
//! `UNAUTHENTICATED`, `FORBIDDEN`, `NOT_FOUND`, `CONFLICT`, `RATE_LIMITED`, `INTERNAL`), and
//! mutations turn [`Error::Invalid`] and [`Error::NotFound`] into `userErrors`.
//! Internal causes are logged, never returned.

use async_graphql::{ErrorExtensions, SimpleObject};
use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A problem with one input field, in Shopify's `userErrors` shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, SimpleObject)]
pub struct UserError {
    /// Path to the input field, e.g. `["input", "email"]`.
    pub field: Option<Vec<String>>,
    pub message: String,
    /// Machine-readable: `INVALID`, `TOO_LONG`, `BLANK`, `TAKEN`, `NOT_FOUND`, `NOT_ALLOWED`…
    pub code: String,
}

impl UserError {
    pub fn new(field: &str, code: &str, message: impl Into<String>) -> Self {
        let mut path = vec!["input".to_string()];
        path.extend(field.split('.').filter(|s| !s.is_empty()).map(String::from));
        Self {
            field: Some(path),
            message: message.into(),
            code: code.into(),
        }
    }
}

/// Deliberately not `Display`: async-graphql converts every `Display` type into an error
/// without `extensions.code`, so this type must go through its own `From` below.
#[derive(Debug)]
pub enum Error {
    BadInput(String),
    Unauthenticated(String),
    Forbidden(String),
    /// The named object does not exist or belongs to another tenant (never told apart).
    NotFound {
        what: String,
        field: Option<String>,
    },
    Conflict(String),
    RateLimited(u64),
    Invalid(Vec<UserError>),
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        Error::Internal(e)
    }
}

impl Error {
    pub fn not_found(what: &str) -> Self {
        Self::NotFound {
            what: what.into(),
            field: None,
        }
    }

    /// Not found, caused by the id in input field `field`.
    pub fn not_found_in(what: &str, field: &str) -> Self {
        Self::NotFound {
            what: what.into(),
            field: Some(field.into()),
        }
    }

    pub fn invalid(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![UserError::new(field, code, message)])
    }

    pub fn code(&self) -> &'static str {
        match self {
            Error::BadInput(_) | Error::Invalid(_) => "BAD_USER_INPUT",
            Error::Unauthenticated(_) => "UNAUTHENTICATED",
            Error::Forbidden(_) => "FORBIDDEN",
            Error::NotFound { .. } => "NOT_FOUND",
            Error::Conflict(_) => "CONFLICT",
            Error::RateLimited(_) => "RATE_LIMITED",
            Error::Internal(_) => "INTERNAL",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadInput(_) | Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The user-facing message; internal causes are logged here and replaced.
    pub fn public_message(&self) -> String {
        match self {
            Error::BadInput(m)
            | Error::Unauthenticated(m)
            | Error::Forbidden(m)
            | Error::Conflict(m) => m.clone(),
            Error::NotFound { what, .. } => format!("{what} not found"),
            Error::RateLimited(s) => format!("too many attempts; try again in {s} s"),
            Error::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                "internal error".into()
            }
            Error::Invalid(errs) => errs
                .iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e.field.as_ref().map(|f| f.join(".")).unwrap_or_default(),
                        e.message
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        }
    }

    /// Field errors for a mutation payload, or `None` when the error is not about input.
    pub fn into_user_errors(self) -> Result<Vec<UserError>, Error> {
        match self {
            Error::Invalid(errs) => Ok(errs),
            Error::NotFound {
                what,
                field: Some(field),
            } => Ok(vec![UserError::new(
                &field,
                "NOT_FOUND",
                format!("{what} not found"),
            )]),
            other => Err(other),
        }
    }
}

impl From<sea_orm::DbErr> for Error {
    fn from(e: sea_orm::DbErr) -> Self {
        Error::Internal(e.into())
    }
}

impl From<sea_orm::TransactionError<Error>> for Error {
    fn from(e: sea_orm::TransactionError<Error>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(e) => e,
        }
    }
}

impl From<Error> for async_graphql::Error {
    fn from(e: Error) -> Self {
        let code = e.code();
        let user_errors = match &e {
            Error::Invalid(errs) => Some(errs.clone()),
            _ => None,
        };
        async_graphql::Error::new(e.public_message()).extend_with(|_, ext| {
            ext.set("code", code);
            if let Some(errs) = &user_errors
                && let Ok(v) = async_graphql::Value::from_json(serde_json::json!(errs))
            {
                ext.set("userErrors", v);
            }
        })
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<Vec<UserError>>,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let fields = match &self {
            Error::Invalid(errs) => Some(errs.clone()),
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.public_message(),
                fields,
            },
        };
        (status, Json(body)).into_response()
    }
}
