//! One error type for the use cases. Each kind maps to one HTTP status (in
//! `web::status_of`) and one CLI exit code (in `cli`); causes are kept as
//! sources, so a log line can say why a request failed, and never reach a
//! user.

use crate::domain::FieldError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

type Cause = Box<dyn std::error::Error + Send + Sync>;

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
    Conflict(Conflict),
    /// Too many attempts from this client; try again after the wait.
    #[error("too many attempts; try again in {retry_after_secs} seconds")]
    Throttled { retry_after_secs: u64 },
    /// The database cannot be reached: the request fails closed.
    #[error("the database is unavailable")]
    Unavailable(#[source] Cause),
    /// A fault of ours (a query that should not fail, a stored value that
    /// does not parse): a 500, logged with its cause.
    #[error("{context}")]
    Unexpected {
        context: &'static str,
        #[source]
        source: Cause,
    },
}

/// The clashes a use case can name, so callers match kinds, never messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error(
        "This form was already submitted and its token created. A token is shown only once: find it in the list, and if you lost it, revoke it and generate a new one."
    )]
    DuplicateSubmit,
    #[error(
        "You already have {active} active tokens, the most allowed ({max}). Revoke tokens you no longer use first."
    )]
    TooManyTokens { active: i64, max: u32 },
    #[error(
        "{owner} already has {active} active tokens, the most allowed ({max}); with an overlap the old token keeps working too. Rotate without an overlap, or revoke tokens first."
    )]
    OverlapOverCap {
        owner: String,
        active: i64,
        max: u32,
    },
    #[error("Only an active token that was not rotated already can be rotated.")]
    NotRotatable,
    #[error("This token is suspended: resume it before rotating it.")]
    Suspended,
    #[error("This token is revoked: revoking is final, so it cannot be suspended or resumed.")]
    AlreadyRevoked,
    #[error("The last active admin cannot be {action}; make another member admin first.")]
    LastAdmin { action: &'static str },
    #[error("This already exists.")]
    AlreadyExists,
    #[error("A scope named {0} already exists (retired scopes keep their names).")]
    ScopeExists(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid(FieldError::new(field, message))
    }

    /// A fault of ours, with what we were doing and why it failed.
    pub fn unexpected(
        context: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Unexpected {
            context,
            source: source.into(),
        }
    }

    /// The error and every cause under it, for a log line.
    pub fn chain(&self) -> String {
        chain(self)
    }
}

/// Any error and every cause under it, on one line: "what failed: why".
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Error::Invalid(e)
    }
}

impl From<Conflict> for Error {
    fn from(c: Conflict) -> Self {
        Error::Conflict(c)
    }
}

impl From<DieselError> for Error {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => Error::NotFound("record"),
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                Error::Conflict(Conflict::AlreadyExists)
            }
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => {
                crate::db::note_failure();
                Error::Unavailable(Box::new(e))
            }
            other => {
                crate::db::note_failure();
                Error::unexpected("a database query failed", other)
            }
        }
    }
}

impl From<r2d2::Error> for Error {
    fn from(e: r2d2::Error) -> Self {
        crate::db::note_failure();
        Error::Unavailable(Box::new(e))
    }
}

impl From<rand::rngs::SysError> for Error {
    fn from(e: rand::rngs::SysError) -> Self {
        Error::unexpected("the operating system's random source failed", e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_error_keeps_its_cause_and_is_not_called_unavailable() {
        let e = Error::from(DieselError::QueryBuilderError("bad query".into()));
        assert!(matches!(e, Error::Unexpected { .. }), "{e:?}");
        assert_eq!(e.chain(), "a database query failed: bad query");
        let unique = Error::from(DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new("dup".to_owned()),
        ));
        assert!(matches!(unique, Error::Conflict(Conflict::AlreadyExists)));
    }
}
