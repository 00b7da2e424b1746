//! The scope catalogue (a contract: names, descriptions and minimum roles).

use super::Malformed;
use super::Role;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    DatastoreRead,
    ReportsRead,
    TokensRead,
    DatastoreWrite,
    ReportsWrite,
    TokensRevoke,
    MembersRead,
    IntegrationsManage,
    TokensIntrospect,
    OrgAdmin,
    TokensCreate,
    AuditRead,
}

/// How the generate form groups scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeGroup {
    Datastore,
    Reports,
    Tokens,
    Organisation,
}

impl ScopeGroup {
    pub const ALL: [ScopeGroup; 4] = [
        ScopeGroup::Datastore,
        ScopeGroup::Reports,
        ScopeGroup::Tokens,
        ScopeGroup::Organisation,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ScopeGroup::Datastore => "Data store",
            ScopeGroup::Reports => "Reports",
            ScopeGroup::Tokens => "Tokens",
            ScopeGroup::Organisation => "Organisation",
        }
    }
}

impl Scope {
    /// Catalogue order, as the SPEC lists it.
    pub const ALL: [Scope; 12] = [
        Scope::DatastoreRead,
        Scope::ReportsRead,
        Scope::TokensRead,
        Scope::DatastoreWrite,
        Scope::ReportsWrite,
        Scope::TokensRevoke,
        Scope::MembersRead,
        Scope::IntegrationsManage,
        Scope::TokensIntrospect,
        Scope::OrgAdmin,
        Scope::TokensCreate,
        Scope::AuditRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::DatastoreRead => "datastore:read",
            Scope::ReportsRead => "reports:read",
            Scope::TokensRead => "tokens:read",
            Scope::DatastoreWrite => "datastore:write",
            Scope::ReportsWrite => "reports:write",
            Scope::TokensRevoke => "tokens:revoke",
            Scope::MembersRead => "members:read",
            Scope::IntegrationsManage => "integrations:manage",
            Scope::TokensIntrospect => "tokens:introspect",
            Scope::OrgAdmin => "org:admin",
            Scope::TokensCreate => "tokens:create",
            Scope::AuditRead => "audit:read",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Scope::DatastoreRead => "Read data from the data store",
            Scope::ReportsRead => "Read dashboards and reports",
            Scope::TokensRead => "List your own tokens through the API",
            Scope::DatastoreWrite => "Write and import data into the data store",
            Scope::ReportsWrite => "Create and edit reports",
            Scope::TokensRevoke => {
                "Revoke tokens through the API (your own; admins: any in the organisation)"
            }
            Scope::MembersRead => "List organisation members",
            Scope::IntegrationsManage => "Connect and disconnect integrations",
            Scope::TokensIntrospect => "Validate other tokens (for resource servers)",
            Scope::OrgAdmin => "Manage organisation settings",
            Scope::TokensCreate => {
                "Create tokens through the API, for yourself, with at most the scopes the presenting token holds"
            }
            Scope::AuditRead => "Read the organisation audit log through the API",
        }
    }

    /// The lowest role this scope is offered to.
    pub fn min_role(self) -> Role {
        match self {
            Scope::DatastoreRead | Scope::ReportsRead | Scope::TokensRead => Role::Viewer,
            Scope::DatastoreWrite
            | Scope::ReportsWrite
            | Scope::TokensRevoke
            | Scope::TokensCreate => Role::Developer,
            Scope::MembersRead
            | Scope::IntegrationsManage
            | Scope::TokensIntrospect
            | Scope::OrgAdmin
            | Scope::AuditRead => Role::Admin,
        }
    }

    pub fn group(self) -> ScopeGroup {
        match self {
            Scope::DatastoreRead | Scope::DatastoreWrite => ScopeGroup::Datastore,
            Scope::ReportsRead | Scope::ReportsWrite => ScopeGroup::Reports,
            Scope::TokensRead
            | Scope::TokensRevoke
            | Scope::TokensIntrospect
            | Scope::TokensCreate => ScopeGroup::Tokens,
            Scope::MembersRead | Scope::IntegrationsManage | Scope::OrgAdmin | Scope::AuditRead => {
                ScopeGroup::Organisation
            }
        }
    }

    pub fn allowed_for(self, role: Role) -> bool {
        role >= self.min_role()
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = Malformed;
    /// Exact names only: a scope arriving with spaces or another case was
    /// not offered by any form of ours.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| Malformed(format!("unknown scope {s:?}")))
    }
}

/// A set of scopes, kept as a bitmask so that intersections are free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ScopeSet(u16);

impl ScopeSet {
    pub fn empty() -> Self {
        ScopeSet(0)
    }

    pub fn insert(&mut self, scope: Scope) {
        self.0 |= scope.bit();
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn intersect(self, other: ScopeSet) -> ScopeSet {
        ScopeSet(self.0 & other.0)
    }

    /// Scopes in `self` that are not in `other`.
    pub fn difference(self, other: ScopeSet) -> ScopeSet {
        ScopeSet(self.0 & !other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// Parses a space-separated list as stored. Unknown names are an error
    /// so that a corrupted row never silently grants or loses a scope.
    pub fn parse_list(s: &str) -> Result<ScopeSet, Malformed> {
        s.split_whitespace().map(Scope::from_str).collect()
    }

    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Scope::as_str).collect()
    }
}

/// As stored (space-separated), read once where a row is loaded.
impl TryFrom<String> for ScopeSet {
    type Error = Malformed;
    fn try_from(stored: String) -> Result<Self, Malformed> {
        ScopeSet::parse_list(&stored)
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        let mut set = ScopeSet::empty();
        for scope in iter {
            set.insert(scope);
        }
        set
    }
}

impl fmt::Display for ScopeSet {
    /// Space-separated, in catalogue order (also the RFC 7662 `scope` form).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for scope in self.iter() {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
            first = false;
        }
        Ok(())
    }
}

/// An organisation's minimum role per scope: the catalogue's, except where
/// an admin raised or lowered it (never below viewer: it is the lowest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopeRoles([Role; 12]);

impl Default for ScopeRoles {
    fn default() -> Self {
        ScopeRoles(Scope::ALL.map(Scope::min_role))
    }
}

impl ScopeRoles {
    pub fn min_role(&self, scope: Scope) -> Role {
        self.0[scope as usize]
    }

    pub fn set(&mut self, scope: Scope, role: Role) {
        self.0[scope as usize] = role;
    }

    /// Every scope a member of `role` may use under this policy.
    pub fn allowed_for(&self, role: Role) -> ScopeSet {
        Scope::ALL
            .into_iter()
            .filter(|s| role >= self.min_role(*s))
            .collect()
    }

    /// Stored form: `scope=role` pairs that differ from the catalogue.
    pub fn parse(stored: &str) -> Result<ScopeRoles, Malformed> {
        let mut roles = ScopeRoles::default();
        for pair in stored.split_whitespace() {
            let (scope, role) = pair
                .split_once('=')
                .ok_or_else(|| Malformed(format!("bad scope policy entry {pair:?}")))?;
            roles.set(scope.parse()?, role.parse()?);
        }
        Ok(roles)
    }
}

/// As stored, read once where a row is loaded.
impl TryFrom<String> for ScopeRoles {
    type Error = Malformed;
    fn try_from(stored: String) -> Result<Self, Malformed> {
        ScopeRoles::parse(&stored)
    }
}

impl fmt::Display for ScopeRoles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let changed: Vec<String> = Scope::ALL
            .into_iter()
            .filter(|s| self.min_role(*s) != s.min_role())
            .map(|s| format!("{s}={}", self.min_role(s)))
            .collect();
        f.write_str(&changed.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_matches_the_contract() {
        let table = [
            ("datastore:read", Role::Viewer),
            ("reports:read", Role::Viewer),
            ("tokens:read", Role::Viewer),
            ("datastore:write", Role::Developer),
            ("reports:write", Role::Developer),
            ("tokens:revoke", Role::Developer),
            ("members:read", Role::Admin),
            ("integrations:manage", Role::Admin),
            ("tokens:introspect", Role::Admin),
            ("org:admin", Role::Admin),
            ("tokens:create", Role::Developer),
            ("audit:read", Role::Admin),
        ];
        assert_eq!(Scope::ALL.len(), table.len());
        for (scope, (name, role)) in Scope::ALL.iter().zip(table) {
            assert_eq!(scope.as_str(), name);
            assert_eq!(scope.min_role(), role);
            assert_eq!(name.parse::<Scope>(), Ok(*scope));
        }
    }

    #[test]
    fn roles_see_their_scopes() {
        let catalogue = ScopeRoles::default();
        assert_eq!(catalogue.allowed_for(Role::Viewer).len(), 3);
        assert_eq!(catalogue.allowed_for(Role::Developer).len(), 7);
        assert_eq!(catalogue.allowed_for(Role::Admin).len(), 12);
    }

    #[test]
    fn effective_scopes_narrow_with_role() {
        let stored: ScopeSet = [Scope::DatastoreRead, Scope::DatastoreWrite, Scope::OrgAdmin]
            .into_iter()
            .collect();
        let effective = |role| stored.intersect(ScopeRoles::default().allowed_for(role));
        assert_eq!(effective(Role::Admin), stored);
        assert_eq!(
            effective(Role::Developer).to_string(),
            "datastore:read datastore:write"
        );
        assert_eq!(effective(Role::Viewer).to_string(), "datastore:read");
    }

    #[test]
    fn scope_roles_override_the_catalogue() {
        let mut roles = ScopeRoles::default();
        assert_eq!(roles.to_string(), "");
        assert_eq!(
            roles.allowed_for(Role::Developer),
            ScopeRoles::default().allowed_for(Role::Developer)
        );
        roles.set(Scope::DatastoreWrite, Role::Admin);
        roles.set(Scope::MembersRead, Role::Viewer);
        assert_eq!(
            roles.to_string(),
            "datastore:write=admin members:read=viewer"
        );
        assert_eq!(ScopeRoles::parse(&roles.to_string()), Ok(roles));
        assert!(
            !roles
                .allowed_for(Role::Developer)
                .contains(Scope::DatastoreWrite)
        );
        assert!(roles.allowed_for(Role::Viewer).contains(Scope::MembersRead));
        assert!(ScopeRoles::parse("datastore:write").is_err());
        assert!(ScopeRoles::parse("nope=admin").is_err());
    }

    #[test]
    fn list_round_trips_and_rejects_unknown_names() {
        let set = ScopeRoles::default().allowed_for(Role::Admin);
        assert_eq!(ScopeSet::parse_list(&set.to_string()), Ok(set));
        assert_eq!(ScopeSet::parse_list(""), Ok(ScopeSet::empty()));
        assert!(ScopeSet::parse_list("datastore:read root").is_err());
    }
}
