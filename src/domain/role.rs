use super::Malformed;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A member's role. The order matters: `Viewer < Developer < Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Developer,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Developer, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Developer => "developer",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// As stored, read once where a row is loaded.
impl TryFrom<String> for Role {
    type Error = Malformed;
    fn try_from(stored: String) -> Result<Self, Malformed> {
        stored.parse()
    }
}

impl FromStr for Role {
    type Err = Malformed;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "viewer" => Ok(Role::Viewer),
            "developer" => Ok(Role::Developer),
            "admin" => Ok(Role::Admin),
            other => Err(Malformed(format!(
                "unknown role {other:?}: expected viewer, developer or admin"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Viewer < Role::Developer && Role::Developer < Role::Admin);
    }

    #[test]
    fn parse_round_trips_and_rejects_unknown() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("owner".parse::<Role>().is_err());
        assert!("Admin".parse::<Role>().is_err());
    }
}

/// A member is a person (signs in with a password) or a service account
/// (a machine's identity: a name, a role, tokens, and no sign-in at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberKind {
    Person,
    Service,
}

impl MemberKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberKind::Person => "person",
            MemberKind::Service => "service",
        }
    }
}

/// As stored, read once where a row is loaded.
impl TryFrom<String> for MemberKind {
    type Error = Malformed;
    fn try_from(stored: String) -> Result<Self, Malformed> {
        match stored.as_str() {
            "person" => Ok(MemberKind::Person),
            "service" => Ok(MemberKind::Service),
            other => Err(Malformed(format!("unknown member kind {other:?}"))),
        }
    }
}
