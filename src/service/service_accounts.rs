//! Service accounts: members of kind service, for machines. A name and a
//! role, no password, no sign-in; admins give them tokens. Their tokens
//! do not depend on the admin who made them.

use super::Actor;
use super::Members;
use super::audit::{self, NewEvent};
use super::members::Member;
use crate::db;
use crate::domain::{MemberKind, OrgId, PasswordHash, Role, ServiceName};
use crate::error::{Error, Result};

/// Stored where a password hash goes: no password ever matches it (it is
/// not a hash), and sign-in refuses service accounts before looking.
const NO_PASSWORD: &str = "!service-account";

impl Members<'_> {
    /// Adds a service account to the actor's organisation (the default one
    /// for the CLI).
    pub fn add_service_account(
        &self,
        actor: &Actor,
        name: &ServiceName,
        role: Role,
    ) -> Result<Member> {
        actor.require_admin()?;
        let org = match &actor.member {
            Some(m) => m.org_id,
            None => self.default_org()?,
        };
        let now = self.clock.now();
        let hash = PasswordHash::from_stored(NO_PASSWORD.to_owned());
        let mut conn = self.conn()?;
        let id = db::write_transaction(&mut conn, |conn| {
            if db::members::find_by_email(conn, name.as_str())?.is_some() {
                return Err(Error::invalid(
                    "name",
                    format!("A service account named {name} already exists."),
                ));
            }
            let id = db::members::insert_kind(
                conn,
                org,
                name.as_str(),
                (&hash, false),
                role,
                MemberKind::Service,
                now,
            )?;
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
                    detail: format!("service account {name} added as {role}"),
                },
            )?;
            Ok(id)
        })?;
        self.by_id(id)
    }

    /// An organisation's service accounts, by name.
    pub fn list_service_accounts(&self, org: OrgId) -> Result<Vec<Member>> {
        let mut conn = self.conn()?;
        db::members::in_org(&mut conn, org, MemberKind::Service)?
            .into_iter()
            .map(Member::from_row)
            .collect()
    }

    /// The service account with this name.
    pub fn service_account(&self, name: &ServiceName) -> Result<Member> {
        let mut conn = self.conn()?;
        match db::members::find_by_email(&mut conn, name.as_str())? {
            Some(row) if row.kind == MemberKind::Service => Member::from_row(row),
            _ => Err(Error::NotFound("service account")),
        }
    }

    /// The service account with this id, if the actor's organisation
    /// holds it.
    pub fn service_account_by_id(
        &self,
        actor: &Actor,
        id: crate::domain::MemberId,
    ) -> Result<Member> {
        let mut conn = self.conn()?;
        let member = self.in_scope(&mut conn, actor, id).map_err(|e| match e {
            Error::NotFound(_) => Error::NotFound("service account"),
            other => other,
        })?;
        if member.kind != MemberKind::Service {
            return Err(Error::NotFound("service account"));
        }
        Ok(member)
    }
}
