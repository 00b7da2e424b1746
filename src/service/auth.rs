//! Sign-in with limits kept in the database (so they hold across
//! instances), and the session key shared through the database.
//!
//! A sign-in is counted before its password is checked: the limits are
//! read and the attempt recorded in one transaction, so parallel guesses
//! cannot slip past them while argon2 runs.

use super::SignIn;
use super::audit::{self, NewEvent};
use super::members::credentials_on;
use super::{Member, default_org_on};
use crate::db::{self, login_attempts};
use crate::domain::{
    Email, MAX_EMAIL_CHARS, OrgId, Password, PasswordHash, audit_text, has_invisible_or_control,
    nfc, rate_limit_key,
};
use crate::error::{Error, Result};
use std::net::IpAddr;
use std::sync::OnceLock;
use time::Duration;

/// Failures allowed for one email from one address within the window
/// before sign-in from that address is refused for the rest of it.
pub const MAX_FAILURES: i64 = 5;
pub const THROTTLE_WINDOW: Duration = Duration::minutes(15);
/// Sign-ins one address (IPv4 /32, IPv6 /64) may try per minute, over all
/// emails.
pub const SIGN_INS_PER_ADDRESS: i64 = 20;
pub const ADDRESS_WINDOW: Duration = Duration::minutes(1);

/// Which limit refused a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Too many failures for this email from this address.
    Failures,
    /// Too many sign-ins from this address.
    Address,
}

#[derive(Debug)]
pub enum LoginError {
    /// Wrong email or password (the message does not say which).
    InvalidCredentials,
    Disabled,
    /// The email cannot be anyone's (too long, invisible characters):
    /// refused before anything is written.
    BadEmail(String),
    Throttled {
        retry_after_secs: u64,
        limit: Limit,
    },
    /// A wrong (or used) two-factor code, with what to tell the member.
    WrongCode(String),
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

/// A counted sign-in whose password is to be checked next (slowly, off
/// the request threads), then settled with `finish`.
#[derive(Debug)]
pub struct PendingLogin {
    attempt: i64,
    email: String,
    ip: Option<String>,
    org: OrgId,
    member: Option<Member>,
    hash: PasswordHash,
}

impl PendingLogin {
    /// The hash to check the password against (a dummy for an unknown
    /// email).
    pub fn hash(&self) -> &PasswordHash {
        &self.hash
    }
}

/// Seconds until the `n`-th newest of `times` leaves a window of `window`.
pub(super) fn retry_after(
    times: &[time::PrimitiveDateTime],
    allowed: i64,
    window: Duration,
    now: time::PrimitiveDateTime,
) -> Option<u64> {
    let allowed = usize::try_from(allowed).unwrap_or(usize::MAX);
    if times.len() < allowed {
        return None;
    }
    let oldest_counted = times[times.len() - allowed];
    let wait = (oldest_counted + window - now).whole_seconds().max(1);
    Some(u64::try_from(wait).unwrap_or(1))
}

impl SignIn<'_> {
    /// Counts a sign-in (refusing it when a limit is reached) and finds
    /// whose password to check.
    pub fn begin(
        &self,
        email: &str,
        client: Option<IpAddr>,
    ) -> std::result::Result<PendingLogin, LoginError> {
        // Normalised as `Email::parse` does, so limits count one address once.
        let email = nfc(email.trim()).to_lowercase();
        if email.chars().count() > MAX_EMAIL_CHARS {
            return Err(LoginError::BadEmail(format!(
                "An email address has at most {MAX_EMAIL_CHARS} characters."
            )));
        }
        if has_invisible_or_control(&email) {
            return Err(LoginError::BadEmail(
                "The email address contains control or invisible characters.".into(),
            ));
        }
        let address = rate_limit_key(client);
        let ip = client.map(|ip| ip.to_canonical().to_string());
        let now = self.clock.now();
        let mut conn = self.conn()?;
        let attempt = db::write_transaction(&mut conn, |conn| {
            login_attempts::lock(conn)?;
            let recent = login_attempts::from_address(conn, &address, now - ADDRESS_WINDOW)?;
            if let Some(wait) = retry_after(&recent, SIGN_INS_PER_ADDRESS, ADDRESS_WINDOW, now) {
                return Err(LoginError::Throttled {
                    retry_after_secs: wait,
                    limit: Limit::Address,
                });
            }
            let failures = login_attempts::failures(conn, &email, &address, now - THROTTLE_WINDOW)?;
            if let Some(wait) = retry_after(&failures, MAX_FAILURES, THROTTLE_WINDOW, now) {
                return Err(LoginError::Throttled {
                    retry_after_secs: wait,
                    limit: Limit::Failures,
                });
            }
            Ok(login_attempts::insert(
                conn,
                &email,
                ip.as_deref(),
                &address,
                now,
            )?)
        })?;
        let found = match Email::parse(&email) {
            Ok(parsed) => credentials_on(&mut conn, parsed.as_str())?,
            Err(_) => None,
        };
        let org = match &found {
            Some((m, _)) => m.org_id,
            None => default_org_on(&mut conn)?,
        };
        let (member, hash) = match found {
            Some((m, h)) => (Some(m), h),
            None => (None, dummy_hash().clone()),
        };
        Ok(PendingLogin {
            attempt,
            email,
            ip,
            org,
            member,
            hash,
        })
    }

    /// Settles a counted sign-in once its password was checked.
    pub fn finish(
        &self,
        pending: PendingLogin,
        password_ok: bool,
    ) -> std::result::Result<Member, LoginError> {
        let now = self.clock.now();
        let PendingLogin {
            attempt,
            email,
            ip,
            org,
            member,
            ..
        } = pending;
        let outcome = match (&member, password_ok) {
            (Some(m), true) if m.disabled => Err(LoginError::Disabled),
            (Some(m), true) => Ok(m.clone()),
            _ => Err(LoginError::InvalidCredentials),
        };
        let shown = audit_text(&email);
        let mut conn = self.conn()?;
        db::write_transaction(&mut conn, |conn| {
            if outcome.is_ok() {
                login_attempts::mark_succeeded(conn, attempt)?;
            }
            audit::record(
                conn,
                now,
                NewEvent {
                    org,
                    // A failed sign-in is a stranger's, whoever it names.
                    actor: outcome.as_ref().ok().map(|m| m.id),
                    action: match &outcome {
                        // Signed in only once the second factor is checked.
                        Ok(m) if m.two_factor => "login.password_accepted",
                        Ok(_) => "login.succeeded",
                        Err(_) => "login.failed",
                    },
                    token: None,
                    member: member.as_ref().map(|m| m.id),
                    ip: ip.as_deref(),
                    detail: match &outcome {
                        Ok(m) if m.two_factor => format!("{shown}: two-factor code asked next"),
                        Ok(_) => shown.clone(),
                        Err(LoginError::Disabled) => format!("{shown}: member is disabled"),
                        Err(_) if member.is_none() => format!("{shown}: no such member"),
                        Err(_) => format!("{shown}: wrong password"),
                    },
                },
            )?;
            login_attempts::prune_failures(conn, now - Duration::days(1))?;
            Ok::<_, Error>(())
        })?;
        outcome
    }

    /// Counts one guess at a member's secret (a password typed again, a
    /// two-factor code) under the sign-in failure limit: refused while
    /// that member's failures from this address are at the limit. The
    /// caller marks the returned attempt succeeded when the guess is right.
    pub(super) fn count_guess(
        &self,
        conn: &mut db::DbConnection,
        email: &str,
        ip: Option<&str>,
    ) -> Result<i64> {
        let client: Option<IpAddr> = ip.and_then(|a| a.parse().ok());
        let address = rate_limit_key(client);
        let now = self.clock.now();
        db::write_transaction(conn, |conn| {
            login_attempts::lock(conn)?;
            let failures = login_attempts::failures(conn, email, &address, now - THROTTLE_WINDOW)?;
            if let Some(wait) = retry_after(&failures, MAX_FAILURES, THROTTLE_WINDOW, now) {
                return Err(Error::Throttled {
                    retry_after_secs: wait,
                });
            }
            Ok(login_attempts::insert(conn, email, ip, &address, now)?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_counts_from_the_oldest_counted_attempt() {
        let now = time::macros::datetime!(2026-11-30 12:00:00);
        let times: Vec<_> = (0..5)
            .map(|i| now - Duration::minutes(10) + Duration::minutes(i))
            .collect();
        assert_eq!(retry_after(&times[..4], 5, THROTTLE_WINDOW, now), None);
        // The oldest of five is 10 minutes old: 5 minutes to wait.
        assert_eq!(retry_after(&times, 5, THROTTLE_WINDOW, now), Some(300));
    }
}
