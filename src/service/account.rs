//! A member's own account: their password and their sessions.

use super::Account;
use super::SessionView;
use super::audit::{self, NewEvent};
use super::members::{Member, credentials_on};
use crate::db::{self, login_attempts, sessions};
use crate::domain::bytes::to_hex;
use crate::domain::{Password, SessionSecret};
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};

/// A session as its member may name it to end it: a digest of its stored
/// hash (never the cookie, never what the database keeps).
pub fn session_handle(id_hash: &[u8]) -> String {
    to_hex(&Sha256::digest(id_hash)[..12])
}

impl Account<'_> {
    /// Changes the member's own password after checking the current one;
    /// every other session of theirs ends. Returns how many ended.
    pub fn change_password(
        &self,
        member: &Member,
        session: &SessionSecret,
        current: &Password,
        new: &Password,
        ip: Option<&str>,
    ) -> Result<usize> {
        let mut conn = self.conn()?;
        let Some((_, stored)) = credentials_on(&mut conn, &member.email)? else {
            return Err(Error::NotFound("member"));
        };
        // Guessing the current password from a borrowed session counts
        // like guessing at the sign-in page: the same limits, the same log.
        let attempt = self.sign_in().count_guess(&mut conn, &member.email, ip)?;
        drop(conn);
        if !current.verify(&stored) {
            return Err(Error::invalid(
                "current_password",
                "That is not your current password.",
            ));
        }
        login_attempts::mark_succeeded(&mut *self.conn()?, attempt)?;
        if current.expose() == new.expose() {
            return Err(Error::invalid(
                "new_password",
                "Choose a password different from the current one.",
            ));
        }
        let hash = new
            .hash()
            .map_err(|e| Error::unexpected("hashing a password", e))?;
        let now = self.clock.now();
        let mut conn = self.conn()?;
        db::write_transaction(&mut conn, |conn| {
            db::members::set_password_hash(conn, member.id, &hash, false)?;
            let keep = session.hash();
            let ended = sessions::delete_for_member(conn, member.id.0, Some(&keep))?;
            audit::record(
                conn,
                now,
                NewEvent {
                    org: member.org_id,
                    actor: Some(member.id),
                    action: "member.password_changed",
                    token: None,
                    member: Some(member.id),
                    ip,
                    detail: format!(
                        "{} changed their password; {ended} other session(s) ended",
                        member.email
                    ),
                },
            )?;
            Ok(ended)
        })
    }

    /// The member's sessions with their handles, this one marked.
    pub fn list_sessions(
        &self,
        member: &Member,
        current: &SessionSecret,
    ) -> Result<Vec<(String, bool, SessionView)>> {
        let mine = session_handle(&current.hash());
        Ok(self
            .sessions()
            .live(member.id)?
            .iter()
            .map(|row| {
                let handle = session_handle(&row.id_hash);
                let is_current = handle == mine;
                (handle, is_current, super::sessions::view(row))
            })
            .collect())
    }

    /// Ends the member's sessions named by `handle` ("others": all but
    /// the current one). Returns how many ended.
    pub fn end_sessions(
        &self,
        member: &Member,
        current: &SessionSecret,
        handle: Option<&str>,
        ip: Option<&str>,
    ) -> Result<usize> {
        let now = self.clock.now();
        let keep = current.hash();
        let mut conn = self.conn()?;
        db::write_transaction(&mut conn, |conn| {
            let rows = sessions::for_member(conn, member.id.0)?;
            let mut ended = 0;
            for row in rows {
                let chosen = match handle {
                    Some(h) => session_handle(&row.id_hash) == h && row.id_hash != keep.as_slice(),
                    None => row.id_hash != keep.as_slice(),
                };
                if chosen {
                    ended += sessions::delete(conn, &row.id_hash)?;
                }
            }
            if handle.is_some() && ended == 0 {
                return Err(Error::NotFound("session"));
            }
            audit::record(
                conn,
                now,
                NewEvent {
                    org: member.org_id,
                    actor: Some(member.id),
                    action: "member.signed_out",
                    token: None,
                    member: Some(member.id),
                    ip,
                    detail: format!("{} ended {ended} of their own session(s)", member.email),
                },
            )?;
            Ok(ended)
        })
    }
}
