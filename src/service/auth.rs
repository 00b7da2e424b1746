//! Sign-in with throttling kept in the database (so it holds across
//! instances), and the session key shared through the database.

use super::audit::{self, NewEvent};
use super::{Latchkey, Member};
use crate::db::{self, schema::login_attempts as la, schema::settings};
use crate::domain::bytes::{from_hex, random_hex};
use crate::domain::{Password, PasswordHash};
use crate::error::{Error, Result};
use diesel::prelude::*;
use std::sync::OnceLock;
use time::Duration;

/// Failures allowed for one email within the window before sign-in is
/// refused for the rest of the window.
pub const MAX_FAILURES: i64 = 5;
pub const THROTTLE_WINDOW: Duration = Duration::minutes(15);
const SESSION_KEY_SETTING: &str = "session_key";

#[derive(Debug)]
pub enum LoginError {
    /// Wrong email or password (the message does not say which).
    InvalidCredentials,
    Disabled,
    Throttled {
        retry_after_secs: u64,
    },
    Failed(Error),
}

impl From<Error> for LoginError {
    fn from(e: Error) -> Self {
        LoginError::Failed(e)
    }
}

impl From<diesel::result::Error> for LoginError {
    fn from(e: diesel::result::Error) -> Self {
        LoginError::Failed(e.into())
    }
}

/// Checked when the email is unknown, so that the answer takes as long as
/// for a real member.
fn dummy_hash() -> &'static PasswordHash {
    static HASH: OnceLock<PasswordHash> = OnceLock::new();
    HASH.get_or_init(|| {
        Password::attempt("not a real password, only for timing")
            .hash()
            .unwrap_or_else(|_| PasswordHash::from_stored(String::new()))
    })
}

impl Latchkey {
    /// Slow (argon2): call it off the async threads.
    pub fn login(
        &self,
        email: &str,
        password: &Password,
        ip: Option<&str>,
    ) -> std::result::Result<Member, LoginError> {
        let email = email.trim().to_lowercase();
        let now = self.clock.now();
        let mut conn = self.conn()?;
        let since = now - THROTTLE_WINDOW;
        let failures: Vec<time::PrimitiveDateTime> = la::table
            .filter(la::email.eq(&email))
            .filter(la::succeeded.eq(false))
            .filter(la::created_at.gt(since))
            .select(la::created_at)
            .order(la::created_at.asc())
            .load(&mut conn)?;
        if failures.len() as i64 >= MAX_FAILURES {
            let oldest = failures[failures.len() - MAX_FAILURES as usize];
            let retry = (oldest + THROTTLE_WINDOW - now).whole_seconds().max(1);
            return Err(LoginError::Throttled {
                retry_after_secs: u64::try_from(retry).unwrap_or(1),
            });
        }
        drop(conn);
        let found = self.credentials(&email)?;
        let ok = match &found {
            Some((_, hash)) => password.verify(hash),
            None => {
                let _ = password.verify(dummy_hash());
                false
            }
        };
        let org = match &found {
            Some((m, _)) => m.org_id,
            None => self.default_org()?,
        };
        let member = found.map(|(m, _)| m);
        let mut conn = self.conn()?;
        let outcome = match (&member, ok) {
            (Some(m), true) if m.disabled => Err(LoginError::Disabled),
            (Some(m), true) => Ok(m.clone()),
            _ => Err(LoginError::InvalidCredentials),
        };
        let succeeded = outcome.is_ok();
        db::write_transaction(&mut conn, |conn| {
            diesel::insert_into(la::table)
                .values((
                    la::email.eq(&email),
                    la::ip.eq(ip),
                    la::succeeded.eq(succeeded),
                    la::created_at.eq(now),
                ))
                .execute(conn)?;
            audit::record(
                conn,
                now,
                NewEvent {
                    org,
                    actor: member.as_ref().map(|m| m.id),
                    action: if succeeded {
                        "login.succeeded"
                    } else {
                        "login.failed"
                    },
                    token: None,
                    member: member.as_ref().map(|m| m.id),
                    ip,
                    detail: match &outcome {
                        Ok(_) => email.clone(),
                        Err(LoginError::Disabled) => format!("{email}: member is disabled"),
                        Err(_) if member.is_none() => format!("{email}: no such member"),
                        Err(_) => format!("{email}: wrong password"),
                    },
                },
            )?;
            // Keep the table small: failures older than a day serve no one.
            // Successes stay: the previous sign-in dates what to announce.
            diesel::delete(
                la::table
                    .filter(la::succeeded.eq(false))
                    .filter(la::created_at.lt(now - Duration::days(1))),
            )
            .execute(conn)?;
            Ok::<_, Error>(())
        })?;
        outcome
    }

    /// The cookie-signing key: from configuration, or generated once and
    /// kept in the database so that every instance shares it.
    pub fn session_key(&self, configured: Option<&str>) -> Result<Vec<u8>> {
        if let Some(key) = configured {
            let bytes = from_hex(key).unwrap_or_else(|| key.as_bytes().to_vec());
            if bytes.len() < 64 {
                return Err(Error::invalid(
                    "LATCHKEY_SESSION_KEY",
                    "LATCHKEY_SESSION_KEY must be at least 64 bytes (e.g. 128 hex characters)",
                ));
            }
            return Ok(bytes);
        }
        let mut conn = self.conn()?;
        let stored: Option<String> = settings::table
            .find(SESSION_KEY_SETTING)
            .select(settings::value)
            .first(&mut conn)
            .optional()?;
        if let Some(hex) = stored.as_deref().and_then(from_hex) {
            return Ok(hex);
        }
        let hex = random_hex(64)?;
        let inserted = diesel::insert_into(settings::table)
            .values((
                settings::key.eq(SESSION_KEY_SETTING),
                settings::value.eq(&hex),
            ))
            .execute(&mut conn);
        match inserted {
            Ok(_) => from_hex(&hex).ok_or_else(|| Error::Unexpected("session key".into())),
            // Another instance stored one first: use theirs.
            Err(_) => {
                let value: String = settings::table
                    .find(SESSION_KEY_SETTING)
                    .select(settings::value)
                    .first(&mut conn)?;
                from_hex(&value)
                    .ok_or_else(|| Error::Unexpected("stored session key is not hex".into()))
            }
        }
    }
}
