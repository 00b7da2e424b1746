//! Why a token stopped working: stored with every revocation, shown on the
//! token's row, its page and in the audit log.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    /// One token, by its owner or an admin (console, API, CLI).
    Manual,
    /// Several at once.
    Bulk,
    /// Replaced by rotation; presented after its window it is a sign of
    /// theft.
    Rotated,
    /// Its rotation chain was revoked because a replaced token came back.
    Reuse,
    /// Reported as leaked, by value.
    Leak,
    /// The organisation's policy stopped it.
    Policy,
    /// Unused for longer than the policy allows.
    Inactivity,
    /// "Revoke every token issued before now" (a member, a service
    /// account or the organisation).
    RevokeAll,
}

impl RevokeReason {
    pub const ALL: [RevokeReason; 8] = [
        RevokeReason::Manual,
        RevokeReason::Bulk,
        RevokeReason::Rotated,
        RevokeReason::Reuse,
        RevokeReason::Leak,
        RevokeReason::Policy,
        RevokeReason::Inactivity,
        RevokeReason::RevokeAll,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Manual => "manual",
            RevokeReason::Bulk => "bulk",
            RevokeReason::Rotated => "rotated",
            RevokeReason::Reuse => "reuse",
            RevokeReason::Leak => "leak",
            RevokeReason::Policy => "policy",
            RevokeReason::Inactivity => "inactivity",
            RevokeReason::RevokeAll => "revoke_all",
        }
    }

    /// How a person reads it: "Revoked … — leak report".
    pub fn label(self) -> &'static str {
        match self {
            RevokeReason::Manual => "revoked by hand",
            RevokeReason::Bulk => "bulk revoke",
            RevokeReason::Rotated => "replaced by rotation",
            RevokeReason::Reuse => "reuse detected",
            RevokeReason::Leak => "leak report",
            RevokeReason::Policy => "policy",
            RevokeReason::Inactivity => "inactivity",
            RevokeReason::RevokeAll => "revoke all",
        }
    }

    pub fn parse(s: &str) -> Option<RevokeReason> {
        RevokeReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for RevokeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for r in RevokeReason::ALL {
            assert_eq!(RevokeReason::parse(r.as_str()), Some(r));
        }
        assert_eq!(RevokeReason::parse("other"), None);
    }
}
