//! Pure domain rules: roles, scopes, token format, names, expiry, emails,
//! passwords. Nothing here knows about HTTP or SQL.

pub mod bytes;
mod email;
mod expiry;
mod ids;
mod inactivity;
mod name;
mod network;
mod password;
mod revocation;
mod role;
mod scope;
mod session;
mod text;
mod token;

pub use email::{Email, MAX_EMAIL_CHARS};

/// A value that does not parse, with what a person needs to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

impl From<Malformed> for String {
    fn from(e: Malformed) -> String {
        e.0
    }
}
pub use expiry::{Expiry, ExpiryError, ExpiryPolicy, PRESETS, expires_at, parse_date, status_at};
pub use ids::{MemberId, OrgId, TokenId};
pub use inactivity::{
    INACTIVE_DAYS_MAX, INACTIVE_DAYS_MIN, INACTIVE_NOTICE_DAYS, Inactivity, parse_inactive_days,
};
pub use name::{MAX_DESCRIPTION_CHARS, ServiceName, TokenName, parse_description};
pub use network::{IpAllowList, IpRange, MAX_ALLOWED_RANGES, parse_ranges, rate_limit_key};
pub use password::{HashingSlot, Password, PasswordHash, SIGN_IN_QUEUE};
pub use revocation::RevokeReason;
pub use role::{MemberKind, Role};
pub use scope::{Catalogue, Scope, ScopeEntry, ScopeSet, Seed};
pub use session::SessionSecret;
pub use text::{
    MAX_AUDIT_TEXT_CHARS, audit_text, fold, has_invisible_or_control, is_invisible_or_control, nfc,
};
pub use token::{TokenFormat, TokenHash, TokenParseError, TokenSecret, TokenStatus};

/// A validation failure tied to the input field it came from, so the
/// console can show the message beside that field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}
