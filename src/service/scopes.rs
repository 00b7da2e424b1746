//! The scope catalogue: what tokens may be granted, who may grant each
//! scope, and retiring what is no longer offered. Every change is audited
//! and reaches every token on its next request.

use super::Actor;
use super::Scopes;
use super::audit::{self, NewEvent};
use crate::db::{self, DbConnection};
use crate::domain::{
    Catalogue, OrgId, Role, Scope, ScopeEntry, audit_text, is_invisible_or_control,
};
use crate::error::{Conflict, Error, Result};
use time::PrimitiveDateTime;

pub const MAX_DESCRIPTION_CHARS: usize = 200;
pub const MAX_GROUP_CHARS: usize = 40;

/// What an admin sets on a scope (a new one, or an edit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeFields {
    pub description: String,
    pub group: String,
    pub min_role: Role,
}

impl ScopeFields {
    /// Trimmed and checked: a description of 1–200 characters, a group of
    /// at most 40, neither with control or invisible characters.
    pub fn new(description: &str, group: &str, min_role: Role) -> Result<ScopeFields> {
        let description = description.trim();
        let group = group.trim();
        let count = description.chars().count();
        if !(1..=MAX_DESCRIPTION_CHARS).contains(&count) {
            return Err(Error::invalid(
                "description",
                format!(
                    "Describe what the scope allows in 1 to {MAX_DESCRIPTION_CHARS} characters."
                ),
            ));
        }
        if description.chars().any(is_invisible_or_control) {
            return Err(Error::invalid(
                "description",
                "The description cannot hold control or invisible characters.",
            ));
        }
        if group.chars().count() > MAX_GROUP_CHARS || group.chars().any(is_invisible_or_control) {
            return Err(Error::invalid(
                "group",
                format!(
                    "A group name has at most {MAX_GROUP_CHARS} characters, none of them control or invisible ones."
                ),
            ));
        }
        Ok(ScopeFields {
            description: description.to_owned(),
            group: group.to_owned(),
            min_role,
        })
    }
}

/// A scope and how many active tokens hold it (what retiring it stops).
#[derive(Debug, Clone)]
pub struct ScopeUse {
    pub entry: ScopeEntry,
    pub active_tokens: usize,
}

impl Scopes<'_> {
    /// Every scope, active and retired, in catalogue order.
    pub fn catalogue(&self) -> Result<Catalogue> {
        Ok(db::scopes::catalogue(&mut *self.conn()?)?)
    }

    /// The catalogue with, for each scope, how many active tokens hold it.
    pub fn uses(&self) -> Result<Vec<ScopeUse>> {
        let mut conn = self.conn()?;
        let catalogue = db::scopes::catalogue(&mut conn)?;
        let lists = db::tokens::active_scope_lists(&mut conn, self.clock.now())?;
        Ok(catalogue
            .entries()
            .iter()
            .map(|entry| ScopeUse {
                active_tokens: holding(&lists, &entry.scope),
                entry: entry.clone(),
            })
            .collect())
    }

    /// One scope with its active-token count.
    pub fn use_of(&self, scope: &Scope) -> Result<ScopeUse> {
        let mut conn = self.conn()?;
        let entry = db::scopes::find(&mut conn, scope)?.ok_or(Error::NotFound("scope"))?;
        let holders =
            db::tokens::active_ids_with_scope(&mut conn, scope.as_str(), self.clock.now())?;
        Ok(ScopeUse {
            active_tokens: holders.len(),
            entry,
        })
    }

    /// Adds a scope to the catalogue (admins, or the CLI).
    pub fn add(&self, actor: &Actor, scope: Scope, fields: ScopeFields) -> Result<ScopeEntry> {
        require_admin(actor)?;
        if scope.is_system() || scope.as_str() == "tokens" || scope.as_str().starts_with("tokens:")
        {
            return Err(Error::invalid(
                "name",
                format!(
                    "{scope} is reserved: names under tokens: and Latchkey's own scopes are kept for Latchkey."
                ),
            ));
        }
        let now = self.clock.now();
        let entry = ScopeEntry {
            scope,
            description: fields.description,
            group: fields.group,
            min_role: fields.min_role,
            system: false,
            retired_at: None,
        };
        let mut conn = self.conn()?;
        db::write_transaction(&mut conn, |conn| {
            if db::scopes::find(conn, &entry.scope)?.is_some() {
                return Err(Conflict::ScopeExists(entry.scope.to_string()).into());
            }
            db::scopes::insert(conn, &entry, now).map_err(|e| match Error::from(e) {
                Error::Conflict(Conflict::AlreadyExists) => {
                    Conflict::ScopeExists(entry.scope.to_string()).into()
                }
                other => other,
            })?;
            let detail = format!(
                "{}: minimum role {}, group {:?}, {}",
                entry.scope,
                entry.min_role,
                audit_text(&entry.group),
                audit_text(&entry.description)
            );
            record(conn, actor, now, "scope.added", detail)?;
            Ok(entry.clone())
        })
    }

    /// Changes a scope's description, group and minimum role. A higher
    /// minimum role stops lower roles' tokens from using it at once.
    pub fn edit(&self, actor: &Actor, scope: &Scope, fields: ScopeFields) -> Result<ScopeEntry> {
        self.change_scope(actor, scope, fields, true)
            .map(|(entry, _)| entry)
    }

    /// What `edit` would do, by the same code, rolled back.
    pub fn preview_edit(
        &self,
        actor: &Actor,
        scope: &Scope,
        fields: ScopeFields,
    ) -> Result<ScopeEffect> {
        self.change_scope(actor, scope, fields, false)
            .map(|(_, effect)| effect)
    }

    fn change_scope(
        &self,
        actor: &Actor,
        scope: &Scope,
        fields: ScopeFields,
        apply: bool,
    ) -> Result<(ScopeEntry, ScopeEffect)> {
        require_admin(actor)?;
        let now = self.clock.now();
        let mut conn = self.conn()?;
        super::preview::run(&mut conn, apply, |conn| {
            let before = db::scopes::find(conn, scope)?.ok_or(Error::NotFound("scope"))?;
            check_editable(scope, &before, &fields)?;
            let after = ScopeEntry {
                description: fields.description.clone(),
                group: fields.group.clone(),
                min_role: fields.min_role,
                ..before.clone()
            };
            if after == before {
                return Ok((after, ScopeEffect::default()));
            }
            db::scopes::update(conn, &after)?;
            let mut effect = ScopeEffect::default();
            if before.min_role != after.min_role {
                effect = role_change_effect(conn, scope, before.min_role, after.min_role, now)?;
                let ids = db::tokens::active_ids_with_scope(conn, scope.as_str(), now)?;
                db::revocations::announce_ids(conn, &ids, "scope_changed", now)?;
            }
            let detail = describe_edit(scope, &before, &after, &effect);
            record(conn, actor, now, "scope.changed", detail)?;
            Ok((after, effect))
        })
    }

    /// What saving each other minimum role would do now (none for a
    /// system or retired scope), each by the saving code, rolled back:
    /// the scope's page shows it before anything is saved.
    pub fn role_effects(&self, actor: &Actor, scope: &Scope) -> Result<Vec<(Role, ScopeEffect)>> {
        require_admin(actor)?;
        let entry = {
            let mut conn = self.conn()?;
            db::scopes::find(&mut conn, scope)?.ok_or(Error::NotFound("scope"))?
        };
        if entry.system || !entry.is_active() {
            return Ok(Vec::new());
        }
        [Role::Viewer, Role::Developer, Role::Admin]
            .into_iter()
            .filter(|role| *role != entry.min_role)
            .map(|role| {
                let fields = ScopeFields {
                    description: entry.description.clone(),
                    group: entry.group.clone(),
                    min_role: role,
                };
                self.preview_edit(actor, scope, fields)
                    .map(|effect| (role, effect))
            })
            .collect()
    }

    /// How many active tokens `retire` would take the scope from,
    /// by the same code, rolled back.
    pub fn preview_retire(&self, actor: &Actor, scope: &Scope) -> Result<usize> {
        self.retire_or_preview(actor, scope, false)
    }

    /// Retires a scope: offered to no one, and no token can use it from
    /// its next request. Returns how many active tokens held it.
    pub fn retire(&self, actor: &Actor, scope: &Scope) -> Result<usize> {
        self.retire_or_preview(actor, scope, true)
    }

    fn retire_or_preview(&self, actor: &Actor, scope: &Scope, apply: bool) -> Result<usize> {
        require_admin(actor)?;
        let now = self.clock.now();
        let mut conn = self.conn()?;
        super::preview::run(&mut conn, apply, |conn| {
            let entry = db::scopes::find(conn, scope)?.ok_or(Error::NotFound("scope"))?;
            if entry.system {
                return Err(Error::invalid(
                    "name",
                    format!(
                        "{scope} is a system scope: Latchkey relies on it, so it cannot be retired."
                    ),
                ));
            }
            if !entry.is_active() {
                return Err(Error::invalid(
                    "name",
                    format!("{scope} is already retired."),
                ));
            }
            db::scopes::retire(conn, scope, now)?;
            let ids = db::tokens::active_ids_with_scope(conn, scope.as_str(), now)?;
            db::revocations::announce_ids(conn, &ids, "scope_retired", now)?;
            let lost = ids.len();
            let detail = format!("{scope}: {lost} active token(s) lose it");
            record(conn, actor, now, "scope.retired", detail)?;
            Ok(lost)
        })
    }
}

/// What changing a scope's minimum role does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeEffect {
    /// Active tokens whose owner's role is now below the minimum: they
    /// lose the scope from their next request.
    pub tokens_lose: usize,
    /// Enabled members (people and service accounts) whose generate form
    /// gains or loses the scope.
    pub forms_change: usize,
}

/// A system scope keeps its minimum role; a retired one stays as it is.
fn check_editable(scope: &Scope, before: &ScopeEntry, fields: &ScopeFields) -> Result<()> {
    // Latchkey's own checks rely on who holds its scopes.
    if before.system && before.min_role != fields.min_role {
        return Err(Error::invalid(
            "min_role",
            format!(
                "{scope} is a system scope: its minimum role stays {}; you can change its description and group.",
                before.min_role
            ),
        ));
    }
    if !before.is_active() {
        return Err(Error::invalid(
            "name",
            format!("{scope} is retired: it cannot be changed."),
        ));
    }
    Ok(())
}

fn role_change_effect(
    conn: &mut DbConnection,
    scope: &Scope,
    before: Role,
    after: Role,
    now: PrimitiveDateTime,
) -> Result<ScopeEffect> {
    let tokens_lose = db::tokens::active_owner_roles_with_scope(conn, scope.as_str(), now)?
        .into_iter()
        .filter(|role| *role >= before && *role < after)
        .count();
    let forms_change = db::members::enabled_roles(conn)?
        .into_iter()
        .filter(|role| (*role >= before) != (*role >= after))
        .count();
    Ok(ScopeEffect {
        tokens_lose,
        forms_change,
    })
}

fn describe_edit(
    scope: &Scope,
    before: &ScopeEntry,
    after: &ScopeEntry,
    effect: &ScopeEffect,
) -> String {
    let mut changes = Vec::new();
    if before.min_role != after.min_role {
        changes.push(format!(
            "minimum role {} → {} ({} active token(s) lose it, {} member(s)' forms change)",
            before.min_role, after.min_role, effect.tokens_lose, effect.forms_change
        ));
    }
    if before.group != after.group {
        changes.push(format!(
            "group {:?} → {:?}",
            audit_text(&before.group),
            audit_text(&after.group)
        ));
    }
    if before.description != after.description {
        changes.push(format!("description {:?}", audit_text(&after.description)));
    }
    format!("{scope}: {}", changes.join(", "))
}

fn require_admin(actor: &Actor) -> Result<()> {
    match &actor.member {
        Some(m) if !m.is_admin() => Err(Error::Forbidden("Only admins can manage scopes.".into())),
        _ => Ok(()),
    }
}

/// How many stored scope lists hold `scope`.
fn holding(lists: &[String], scope: &Scope) -> usize {
    lists
        .iter()
        .filter(|list| list.split_whitespace().any(|s| s == scope.as_str()))
        .count()
}

/// Scope changes are the deployment's, recorded in the actor's organisation
/// (or the default one for the CLI).
fn record(
    conn: &mut DbConnection,
    actor: &Actor,
    now: PrimitiveDateTime,
    action: &str,
    detail: String,
) -> Result<()> {
    let org = match &actor.member {
        Some(m) => m.org_id,
        None => OrgId(db::organisations::first_id(conn)?.0),
    };
    audit::record(
        conn,
        now,
        NewEvent {
            org,
            actor: actor.id(),
            action,
            token: None,
            member: None,
            ip: actor.ip.as_deref(),
            detail,
        },
    )?;
    Ok(())
}
