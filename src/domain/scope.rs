//! Scopes: names, the catalogue a deployment keeps in its database, and
//! sets of scopes. The §1 catalogue seeds a fresh database; admins add
//! their own and retire what they no longer offer.

use super::Malformed;
use super::Role;
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use time::PrimitiveDateTime;

/// A scope's name: `^[a-z][a-z0-9_-]{0,31}(:[a-z][a-z0-9_-]{0,31}){0,3}$`.
/// Whether it is offered, and to whom, is the catalogue's to say.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    name: Cow<'static, str>,
    /// Position in the seeded catalogue (added scopes: after them), kept
    /// so that ordering a set costs no lookups.
    rank: u8,
}

/// Added scopes sort after every seeded one, by name.
const ADDED: u8 = u8::MAX;

const fn named(name: &'static str, rank: u8) -> Scope {
    Scope {
        name: Cow::Borrowed(name),
        rank,
    }
}

/// One seeded scope: name, description, group, minimum role, system.
pub struct Seed {
    pub scope: Scope,
    pub description: &'static str,
    pub group: &'static str,
    pub min_role: Role,
    pub system: bool,
}

const fn seed(
    scope: Scope,
    description: &'static str,
    group: &'static str,
    min_role: Role,
    system: bool,
) -> Seed {
    Seed {
        scope,
        description,
        group,
        min_role,
        system,
    }
}

impl Scope {
    pub const DATASTORE_READ: Scope = named("datastore:read", 0);
    pub const REPORTS_READ: Scope = named("reports:read", 1);
    pub const TOKENS_READ: Scope = named("tokens:read", 2);
    pub const DATASTORE_WRITE: Scope = named("datastore:write", 3);
    pub const REPORTS_WRITE: Scope = named("reports:write", 4);
    pub const TOKENS_REVOKE: Scope = named("tokens:revoke", 5);
    pub const MEMBERS_READ: Scope = named("members:read", 6);
    pub const INTEGRATIONS_MANAGE: Scope = named("integrations:manage", 7);
    pub const TOKENS_INTROSPECT: Scope = named("tokens:introspect", 8);
    pub const ORG_ADMIN: Scope = named("org:admin", 9);
    pub const TOKENS_CREATE: Scope = named("tokens:create", 10);
    pub const AUDIT_READ: Scope = named("audit:read", 11);

    /// What a fresh database holds, in the order the SPEC lists it (also
    /// the order these scopes are shown in, before any added ones).
    pub const SEED: [Seed; 12] = [
        seed(
            Scope::DATASTORE_READ,
            "Read data from the data store",
            "Data store",
            Role::Viewer,
            false,
        ),
        seed(
            Scope::REPORTS_READ,
            "Read dashboards and reports",
            "Reports",
            Role::Viewer,
            false,
        ),
        seed(
            Scope::TOKENS_READ,
            "List your own tokens through the API",
            "Tokens",
            Role::Viewer,
            true,
        ),
        seed(
            Scope::DATASTORE_WRITE,
            "Write and import data into the data store",
            "Data store",
            Role::Developer,
            false,
        ),
        seed(
            Scope::REPORTS_WRITE,
            "Create and edit reports",
            "Reports",
            Role::Developer,
            false,
        ),
        seed(
            Scope::TOKENS_REVOKE,
            "Revoke tokens through the API (your own; admins: any in the organisation)",
            "Tokens",
            Role::Developer,
            true,
        ),
        seed(
            Scope::MEMBERS_READ,
            "List organisation members",
            "Organisation",
            Role::Admin,
            true,
        ),
        seed(
            Scope::INTEGRATIONS_MANAGE,
            "Connect and disconnect integrations",
            "Organisation",
            Role::Admin,
            false,
        ),
        seed(
            Scope::TOKENS_INTROSPECT,
            "Validate other tokens (for resource servers)",
            "Tokens",
            Role::Admin,
            true,
        ),
        seed(
            Scope::ORG_ADMIN,
            "Manage organisation settings",
            "Organisation",
            Role::Admin,
            true,
        ),
        seed(
            Scope::TOKENS_CREATE,
            "Create tokens through the API, for yourself, with at most the scopes the presenting token holds",
            "Tokens",
            Role::Developer,
            true,
        ),
        seed(
            Scope::AUDIT_READ,
            "Read the organisation audit log through the API",
            "Organisation",
            Role::Admin,
            true,
        ),
    ];

    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// Scopes Latchkey itself checks: never retired, never added by hand.
    pub fn is_system(&self) -> bool {
        self.name.starts_with("tokens:")
            || matches!(&*self.name, "members:read" | "org:admin" | "audit:read")
    }
}

impl Ord for Scope {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank
            .cmp(&other.rank)
            .then_with(|| self.name.cmp(&other.name))
    }
}

impl PartialOrd for Scope {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

fn is_name_part(part: &str) -> bool {
    let mut bytes = part.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && part.len() <= 32
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
}

impl FromStr for Scope {
    type Err = Malformed;
    /// Exact names only: a scope arriving with spaces or another case was
    /// not offered by any form of ours. Seeded names borrow their text.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(seeded) = Scope::SEED.iter().find(|seed| seed.scope.name == s) {
            return Ok(seeded.scope.clone());
        }
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() > 4 || !parts.iter().all(|p| is_name_part(p)) {
            return Err(Malformed(format!(
                "{:?} is not a scope name: lowercase letters, digits, _ and -, starting with a letter, up to 4 parts of at most 32 characters joined by ':' (e.g. billing:read)",
                super::audit_text(s)
            )));
        }
        Ok(Scope {
            name: Cow::Owned(s.to_owned()),
            rank: ADDED,
        })
    }
}

/// A set of scopes, in catalogue order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    pub fn empty() -> Self {
        ScopeSet(BTreeSet::new())
    }

    pub fn insert(&mut self, scope: Scope) {
        self.0.insert(scope);
    }

    pub fn contains(&self, scope: &Scope) -> bool {
        self.0.contains(scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn intersect(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.intersection(&other.0).cloned().collect())
    }

    /// Scopes in `self` that are not in `other`.
    pub fn difference(&self, other: &ScopeSet) -> ScopeSet {
        ScopeSet(self.0.difference(&other.0).cloned().collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    /// Parses a space-separated list as stored. A malformed name is an
    /// error so that a corrupted row never silently grants or loses a
    /// scope; a name the catalogue does not offer grants nothing at use.
    pub fn parse_list(s: &str) -> Result<ScopeSet, Malformed> {
        s.split_whitespace().map(Scope::from_str).collect()
    }

    pub fn names(&self) -> Vec<String> {
        self.iter().map(|s| s.as_str().to_owned()).collect()
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
        ScopeSet(iter.into_iter().collect())
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

/// One scope as the catalogue keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeEntry {
    pub scope: Scope,
    pub description: String,
    /// How forms group scopes; empty for none.
    pub group: String,
    /// The lowest role this scope is offered to and works for.
    pub min_role: Role,
    pub system: bool,
    pub retired_at: Option<PrimitiveDateTime>,
}

impl ScopeEntry {
    pub fn is_active(&self) -> bool {
        self.retired_at.is_none()
    }
}

impl From<&Seed> for ScopeEntry {
    fn from(seed: &Seed) -> Self {
        ScopeEntry {
            scope: seed.scope.clone(),
            description: seed.description.to_owned(),
            group: seed.group.to_owned(),
            min_role: seed.min_role,
            system: seed.system,
            retired_at: None,
        }
    }
}

/// The deployment's scopes, active and retired, in catalogue order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Catalogue(Vec<ScopeEntry>);

impl Catalogue {
    pub fn new(mut entries: Vec<ScopeEntry>) -> Catalogue {
        entries.sort_by(|a, b| a.scope.cmp(&b.scope));
        Catalogue(entries)
    }

    /// The seeded catalogue, as a fresh database holds it.
    pub fn seeded() -> Catalogue {
        Catalogue::new(Scope::SEED.iter().map(ScopeEntry::from).collect())
    }

    pub fn entries(&self) -> &[ScopeEntry] {
        &self.0
    }

    pub fn active(&self) -> impl Iterator<Item = &ScopeEntry> {
        self.0.iter().filter(|e| e.is_active())
    }

    pub fn get(&self, scope: &Scope) -> Option<&ScopeEntry> {
        self.0.iter().find(|e| &e.scope == scope)
    }

    /// Offered now (known and not retired).
    pub fn offers(&self, scope: &Scope) -> bool {
        self.get(scope).is_some_and(ScopeEntry::is_active)
    }

    /// Every active scope a member of `role` may grant and use.
    pub fn allowed_for(&self, role: Role) -> ScopeSet {
        self.active()
            .filter(|e| role >= e.min_role)
            .map(|e| e.scope.clone())
            .collect()
    }

    /// Groups of active scopes in the order they first appear (scopes
    /// without a group last, under "Other").
    pub fn groups(&self) -> Vec<(&str, Vec<&ScopeEntry>)> {
        let mut groups: Vec<(&str, Vec<&ScopeEntry>)> = Vec::new();
        let mut ungrouped = Vec::new();
        for entry in self.active() {
            if entry.group.is_empty() {
                ungrouped.push(entry);
            } else if let Some((_, members)) =
                groups.iter_mut().find(|(name, _)| *name == entry.group)
            {
                members.push(entry);
            } else {
                groups.push((&entry.group, vec![entry]));
            }
        }
        if !ungrouped.is_empty() {
            groups.push(("Other", ungrouped));
        }
        groups
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
        assert_eq!(Scope::SEED.len(), table.len());
        for (seed, (name, role)) in Scope::SEED.iter().zip(table) {
            assert_eq!(seed.scope.as_str(), name);
            assert_eq!(seed.min_role, role);
            assert_eq!(seed.system, seed.scope.is_system());
            assert_eq!(name.parse::<Scope>().as_ref(), Ok(&seed.scope));
        }
    }

    #[test]
    fn roles_see_their_scopes() {
        let catalogue = Catalogue::seeded();
        assert_eq!(catalogue.allowed_for(Role::Viewer).len(), 3);
        assert_eq!(catalogue.allowed_for(Role::Developer).len(), 7);
        assert_eq!(catalogue.allowed_for(Role::Admin).len(), 12);
    }

    #[test]
    fn effective_scopes_narrow_with_role_and_retirement() {
        let stored: ScopeSet = [
            Scope::DATASTORE_READ,
            Scope::DATASTORE_WRITE,
            Scope::ORG_ADMIN,
        ]
        .into_iter()
        .collect();
        let mut catalogue = Catalogue::seeded();
        let effective = |c: &Catalogue, role| stored.intersect(&c.allowed_for(role));
        assert_eq!(effective(&catalogue, Role::Admin), stored);
        assert_eq!(
            effective(&catalogue, Role::Developer).to_string(),
            "datastore:read datastore:write"
        );
        assert_eq!(
            effective(&catalogue, Role::Viewer).to_string(),
            "datastore:read"
        );
        catalogue.0[0].retired_at = Some(time::macros::datetime!(2026-01-01 0:00));
        assert_eq!(
            effective(&catalogue, Role::Developer).to_string(),
            "datastore:write"
        );
    }

    #[test]
    fn names_follow_the_pattern() {
        for good in ["billing", "billing:read", "a:b:c:d", "x-1_2:y"] {
            assert!(good.parse::<Scope>().is_ok(), "{good}");
        }
        let long = "a".repeat(33);
        for bad in [
            "",
            "Billing",
            "1billing",
            "billing:",
            ":read",
            "a:b:c:d:e",
            " billing",
            "billing read",
            "billing:Read",
            long.as_str(),
        ] {
            assert!(bad.parse::<Scope>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn added_scopes_sort_after_the_seeded_ones() {
        let set: ScopeSet = ["zebra", "billing:read", "tokens:read", "datastore:read"]
            .into_iter()
            .map(|s| s.parse::<Scope>().expect("a scope name"))
            .collect();
        assert_eq!(
            set.to_string(),
            "datastore:read tokens:read billing:read zebra"
        );
    }

    #[test]
    fn list_round_trips_and_rejects_malformed_names() {
        let set = Catalogue::seeded().allowed_for(Role::Admin);
        assert_eq!(ScopeSet::parse_list(&set.to_string()), Ok(set));
        assert_eq!(ScopeSet::parse_list(""), Ok(ScopeSet::empty()));
        assert!(ScopeSet::parse_list("datastore:read Root").is_err());
    }
}
