//! One error type for the application. Each kind maps to one HTTP status
//! (in `web`) and one CLI exit code (in `cli`).

use crate::domain::FieldError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input tied to a field; the form is shown again with the message.
    #[error("{}", .0.message)]
    Invalid(FieldError),
    /// The caller may not do this (a scope above their role, another
    /// member's token, a missing CSRF token).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request is well-formed but clashes with what exists.
    #[error("{0}")]
    Conflict(String),
    #[error("too many attempts; try again in {retry_after_secs} seconds")]
    Throttled { retry_after_secs: u64 },
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("unexpected error: {0}")]
    Unexpected(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid(FieldError::new(field, message))
    }
}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Error::Invalid(e)
    }
}

impl From<DieselError> for Error {
    fn from(e: DieselError) -> Self {
        if !matches!(
            e,
            DieselError::NotFound
                | DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
        ) {
            crate::db::note_failure();
        }
        match e {
            DieselError::NotFound => Error::NotFound("record"),
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                Error::Conflict(format!("already exists ({})", info.message()))
            }
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => Error::Unavailable(info.message().to_owned()),
            other => Error::Unexpected(other.to_string()),
        }
    }
}

impl From<r2d2::Error> for Error {
    fn from(e: r2d2::Error) -> Self {
        crate::db::note_failure();
        Error::Unavailable(e.to_string())
    }
}

impl From<rand::rngs::SysError> for Error {
    fn from(e: rand::rngs::SysError) -> Self {
        Error::Unexpected(format!("the operating system's random source failed: {e}"))
    }
}
