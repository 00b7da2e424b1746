//! Members: add, list, change role, disable, set password, first admin.

use super::Members;
use super::audit::{self, NewEvent};
use crate::db::{self, DbConnection, sessions};
use crate::domain::{Email, MemberId, MemberKind, OrgId, Password, PasswordHash, Role};
use crate::error::{Conflict, Error, Result};
use diesel::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Member {
    pub id: MemberId,
    pub org_id: OrgId,
    pub email: String,
    pub role: Role,
    pub disabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    /// A person, or a service account (no sign-in).
    pub kind: MemberKind,
    /// Latchkey generated their password: they must choose their own
    /// before anything else.
    #[serde(skip)]
    pub must_change_password: bool,
    /// They sign in with a second factor (TOTP).
    pub two_factor: bool,
    /// They have a password (people who joined through single sign-on
    /// have none).
    #[serde(skip)]
    pub has_password: bool,
}

impl Member {
    pub(crate) fn from_row(row: db::MemberRow) -> Result<Member> {
        Ok(Member {
            id: MemberId(row.id),
            org_id: OrgId(row.org_id),
            email: row.email,
            role: row.role,
            disabled: row.disabled,
            created_at: row.created_at.assume_utc(),
            kind: row.kind,
            must_change_password: row.password_must_change,
            two_factor: row.totp_secret.is_some(),
            // Stored "hashes" that no password matches start with `!`.
            has_password: !row.password_hash.starts_with('!'),
        })
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// Who is doing something: a signed-in member, or the operator at the CLI.
#[derive(Debug, Clone)]
pub struct Actor {
    pub member: Option<Member>,
    pub ip: Option<String>,
}

impl Actor {
    pub fn cli() -> Actor {
        Actor {
            member: None,
            ip: None,
        }
    }

    pub fn member(member: Member, ip: Option<String>) -> Actor {
        Actor {
            member: Some(member),
            ip,
        }
    }

    pub(crate) fn id(&self) -> Option<MemberId> {
        self.member.as_ref().map(|m| m.id)
    }

    /// Only admins (or the CLI) manage members.
    pub(super) fn require_admin(&self) -> Result<()> {
        match &self.member {
            Some(m) if !m.is_admin() => {
                Err(Error::Forbidden("Only admins can manage members.".into()))
            }
            _ => Ok(()),
        }
    }
}

fn load_by_email(conn: &mut DbConnection, email: &Email) -> Result<Member> {
    let row = db::members::find_by_email(conn, email.as_str())?;
    Member::from_row(row.ok_or(Error::NotFound("member"))?)
}

fn load_by_id(conn: &mut DbConnection, id: MemberId) -> Result<Member> {
    let row = db::members::find(conn, id)?;
    Member::from_row(row.ok_or(Error::NotFound("member"))?)
}

fn active_admins(conn: &mut DbConnection, org: OrgId) -> QueryResult<i64> {
    db::members::count_active_admins(conn, Some(org))
}

impl Members<'_> {
    /// On a database with no admin, creates one with a random password and
    /// returns the credentials to print once. `None` when an admin exists.
    pub fn bootstrap_admin(&self) -> Result<Option<(Email, Password)>> {
        let org = self.default_org()?;
        let mut conn = self.conn()?;
        let admins = db::members::count_active_admins(&mut conn, None)?;
        if admins > 0 {
            return Ok(None);
        }
        let email = Email::parse("admin@latchkey.local")?;
        let password = Password::generate()?;
        let hash = password
            .hash()
            .map_err(|e| Error::unexpected("hashing a password", e))?;
        let now = self.clock.now();
        let result = db::write_transaction(&mut conn, |conn| {
            let member = db::members::insert(conn, org, &email, &hash, Role::Admin, true, now)?;
            audit::record(
                conn,
                now,
                NewEvent {
                    org,
                    actor: None,
                    action: "member.added",
                    token: None,
                    member: Some(member),
                    ip: None,
                    detail: format!("first admin {email} created at first start"),
                },
            )?;
            Ok::<_, Error>(())
        });
        match result {
            Ok(()) => Ok(Some((email, password))),
            // Another instance bootstrapped at the same moment.
            Err(Error::Conflict(Conflict::AlreadyExists)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn by_email(&self, email: &Email) -> Result<Member> {
        let mut conn = self.conn()?;
        load_by_email(&mut conn, email)
    }

    pub fn by_id(&self, id: MemberId) -> Result<Member> {
        let mut conn = self.conn()?;
        load_by_id(&mut conn, id)
    }

    /// Active tokens per member of `org`.
    pub fn active_token_counts(
        &self,
        org: OrgId,
    ) -> Result<std::collections::HashMap<MemberId, i64>> {
        let now = self.clock.now();
        let mut conn = self.conn()?;
        Ok(db::tokens::count_active_by_owner(&mut conn, org, now)?
            .into_iter()
            .collect())
    }

    pub fn list(&self, org: OrgId) -> Result<Vec<Member>> {
        let mut conn = self.conn()?;
        db::members::in_org(&mut conn, org, MemberKind::Person)?
            .into_iter()
            .map(Member::from_row)
            .collect()
    }

    /// Adds a member to the actor's organisation (the default one for the CLI).
    pub fn add(
        &self,
        actor: &Actor,
        email: &Email,
        role: Role,
        password: &Password,
    ) -> Result<Member> {
        actor.require_admin()?;
        let org = match &actor.member {
            Some(m) => m.org_id,
            None => self.default_org()?,
        };
        let hash = password
            .hash()
            .map_err(|e| Error::unexpected("hashing a password", e))?;
        let now = self.clock.now();
        let mut conn = self.conn()?;
        let id = db::write_transaction(&mut conn, |conn| {
            if db::members::email_exists(conn, email)? {
                return Err(Error::Invalid(crate::domain::FieldError::new(
                    "email",
                    format!("A member with the email {email} already exists."),
                )));
            }
            let generated = password.is_generated();
            let id = db::members::insert(conn, org, email, &hash, role, generated, now)?;
            audit::record(
                conn,
                now,
                NewEvent {
                    org,
                    actor: actor.id(),
                    action: "member.added",
                    token: None,
                    member: Some(id),
                    ip: actor.ip.as_deref(),
                    detail: format!("{email} added as {role}"),
                },
            )?;
            Ok(id)
        })?;
        load_by_id(&mut conn, id)
    }

    pub fn set_role(&self, actor: &Actor, target: MemberId, role: Role) -> Result<Member> {
        actor.require_admin()?;
        let now = self.clock.now();
        let mut conn = self.conn()?;
        db::write_transaction(&mut conn, |conn| {
            let member = self.member_locked(conn, actor, target)?;
            if member.role == role {
                return Ok(member);
            }
            if member.kind == MemberKind::Person
                && member.role == Role::Admin
                && !member.disabled
                && active_admins(conn, member.org_id)? <= 1
            {
                return Err(Conflict::LastAdmin { action: "demoted" }.into());
            }
            db::members::set_role(conn, member.id, role)?;
            // What its tokens may do changed: resource servers re-check.
            let ids = db::tokens::active_ids_of(conn, member.id, now)?;
            db::revocations::announce_ids(conn, &ids, "role_changed", now)?;
            audit::record(
                conn,
                now,
                NewEvent {
                    org: member.org_id,
                    actor: actor.id(),
                    action: "member.role_changed",
                    token: None,
                    member: Some(member.id),
                    ip: actor.ip.as_deref(),
                    detail: format!("{}: {} -> {role}", member.email, member.role),
                },
            )?;
            Ok(Member { role, ..member })
        })
    }

    pub fn set_disabled(&self, actor: &Actor, target: MemberId, disabled: bool) -> Result<Member> {
        actor.require_admin()?;
        let now = self.clock.now();
        let mut conn = self.conn()?;
        db::write_transaction(&mut conn, |conn| {
            let member = self.member_locked(conn, actor, target)?;
            if member.disabled == disabled {
                return Ok(member);
            }
            if disabled
                && member.kind == MemberKind::Person
                && member.role == Role::Admin
                && active_admins(conn, member.org_id)? <= 1
            {
                return Err(Conflict::LastAdmin { action: "disabled" }.into());
            }
            db::members::set_disabled(conn, member.id, disabled)?;
            if disabled {
                sessions::delete_for_member(conn, member.id.0, None)?;
                let ids = db::tokens::active_ids_of(conn, member.id, now)?;
                db::revocations::announce_ids(conn, &ids, "owner_disabled", now)?;
            }
            audit::record(
                conn,
                now,
                NewEvent {
                    org: member.org_id,
                    actor: actor.id(),
                    action: if disabled {
                        "member.disabled"
                    } else {
                        "member.enabled"
                    },
                    token: None,
                    member: Some(member.id),
                    ip: actor.ip.as_deref(),
                    detail: member.email.clone(),
                },
            )?;
            Ok(Member { disabled, ..member })
        })
    }

    /// Sets a new password (CLI); the hash is the only thing stored.
    pub fn set_password(&self, actor: &Actor, target: MemberId, password: &Password) -> Result<()> {
        actor.require_admin()?;
        let hash = password
            .hash()
            .map_err(|e| Error::unexpected("hashing a password", e))?;
        let now = self.clock.now();
        let mut conn = self.conn()?;
        db::write_transaction(&mut conn, |conn| {
            let member = self.in_scope(conn, actor, target)?;
            if member.kind == MemberKind::Service {
                return Err(Error::invalid(
                    "email",
                    "A service account has no password: it uses tokens only.",
                ));
            }
            db::members::set_password_hash(conn, member.id, &hash, password.is_generated())?;
            // A new password ends every session the old one opened.
            sessions::delete_for_member(conn, member.id.0, None)?;
            audit::record(
                conn,
                now,
                NewEvent {
                    org: member.org_id,
                    actor: actor.id(),
                    action: "member.password_set",
                    token: None,
                    member: Some(member.id),
                    ip: actor.ip.as_deref(),
                    detail: member.email,
                },
            )?;
            Ok(())
        })
    }

    /// The member, if the actor's organisation holds it (404 otherwise, so
    /// ids of other organisations are not revealed).
    pub(super) fn in_scope(
        &self,
        conn: &mut DbConnection,
        actor: &Actor,
        id: MemberId,
    ) -> Result<Member> {
        let member = load_by_id(conn, id)?;
        match &actor.member {
            Some(a) if a.org_id != member.org_id => Err(Error::NotFound("member")),
            _ => Ok(member),
        }
    }

    /// As `in_scope`, holding the organisation's lock until the
    /// transaction ends, so rules over all its members (the last admin)
    /// hold under concurrent changes. Read again after the lock: what was
    /// read before it may have changed.
    fn member_locked(
        &self,
        conn: &mut DbConnection,
        actor: &Actor,
        id: MemberId,
    ) -> Result<Member> {
        let member = self.in_scope(conn, actor, id)?;
        db::lock_organisation(conn, member.org_id.0)?;
        load_by_id(conn, id)
    }
}

/// A member and their password hash, on a connection the caller holds.
pub(super) fn credentials_on(
    conn: &mut DbConnection,
    email: &str,
) -> Result<Option<(Member, PasswordHash)>> {
    match db::members::find_by_email(conn, email)? {
        // A service account has no password and never signs in.
        Some(row) if row.kind == MemberKind::Service => Ok(None),
        Some(row) => {
            let hash = PasswordHash::from_stored(row.password_hash.clone());
            Ok(Some((Member::from_row(row)?, hash)))
        }
        None => Ok(None),
    }
}
