//! Console sessions kept in the database, shared by every instance: signing
//! out, a password change, disabling a member or an admin's "sign out
//! everywhere" ends them at once, wherever the cookie is replayed.

use super::Sessions;
use super::audit::{self, NewEvent};
use super::{Actor, Member};
use crate::db::{self, sessions};
use crate::domain::bytes::{from_hex, random_hex};
use crate::domain::{MemberId, SessionSecret, audit_text};
use crate::error::{Error, Result};
use time::{Duration, PrimitiveDateTime};

/// Where the generated cookie-signing key is kept.
const SESSION_KEY_SETTING: &str = "session_key";

/// A session unused this long ends.
pub const IDLE_TIMEOUT: Duration = Duration::hours(8);
/// No session lives longer than this, used or not.
pub const MAX_SESSION_AGE: Duration = Duration::hours(24);
/// Last use is written at most this often per session.
const SEEN_REFRESH: Duration = Duration::seconds(60);
/// The most of a user agent kept (it is shown, never trusted).
const MAX_USER_AGENT_CHARS: usize = 200;

/// Where a sign-in comes from, recorded with the session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: String,
}

/// A session as its member sees it in a list.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub started: PrimitiveDateTime,
    pub last_seen: PrimitiveDateTime,
    pub ip: Option<String>,
    pub user_agent: String,
}

/// A session as its member sees it.
pub(super) fn view(row: &sessions::SessionRow) -> SessionView {
    SessionView {
        started: row.created_at,
        last_seen: row.last_seen_at,
        ip: row.ip.clone(),
        user_agent: row.user_agent.clone(),
    }
}

fn expired(row: &sessions::SessionRow, now: PrimitiveDateTime) -> bool {
    now - row.last_seen_at > IDLE_TIMEOUT || now - row.created_at > MAX_SESSION_AGE
}

impl Sessions<'_> {
    /// Starts a session for `member`; the secret goes into the cookie and
    /// nowhere else.
    pub fn start(&self, member: &Member, client: &ClientInfo) -> Result<SessionSecret> {
        let secret = SessionSecret::generate()?;
        let now = self.clock.now();
        let user_agent: String = audit_text(&client.user_agent)
            .chars()
            .take(MAX_USER_AGENT_CHARS)
            .collect();
        let mut conn = self.conn()?;
        db::write_transaction(&mut conn, |conn| {
            sessions::delete_stale(conn, now - IDLE_TIMEOUT, now - MAX_SESSION_AGE)?;
            sessions::insert(
                conn,
                &sessions::NewSession {
                    id_hash: &secret.hash(),
                    member_id: member.id.0,
                    created_at: now,
                    last_seen_at: now,
                    ip: client.ip.as_deref(),
                    user_agent: &user_agent,
                    announce: true,
                },
            )?;
            Ok::<_, Error>(())
        })?;
        Ok(secret)
    }

    /// The member a session belongs to, or `None` when it ended (signed
    /// out, idle, too old, member disabled). Last use is written at most
    /// once a minute.
    pub fn resume(&self, secret: &SessionSecret, ip: Option<&str>) -> Result<Option<Member>> {
        let now = self.clock.now();
        let hash = secret.hash();
        let mut conn = self.conn()?;
        let Some((row, member)) = sessions::find_with_member(&mut conn, &hash)? else {
            return Ok(None);
        };
        if expired(&row, now) || member.disabled {
            sessions::delete(&mut conn, &hash)?;
            return Ok(None);
        }
        if now - row.last_seen_at >= SEEN_REFRESH {
            sessions::touch(&mut conn, &hash, now, ip)?;
        }
        Ok(Some(Member::from_row(member)?))
    }

    /// Signs out: the session ends for every copy of its cookie.
    pub fn end(&self, secret: &SessionSecret) -> Result<()> {
        let mut conn = self.conn()?;
        sessions::delete(&mut conn, &secret.hash())?;
        Ok(())
    }

    /// True once per session: the first page after sign-in announces
    /// expiring tokens and reuse.
    pub fn take_announcement(&self, secret: &SessionSecret) -> Result<bool> {
        let mut conn = self.conn()?;
        Ok(sessions::take_announcement(&mut conn, &secret.hash())?)
    }

    /// A message for the session's next page (kept in the database, so no
    /// one can forge it with a link).
    pub fn set_flash(&self, secret: &SessionSecret, message: &str) -> Result<()> {
        let mut conn = self.conn()?;
        sessions::set_flash(&mut conn, &secret.hash(), message)?;
        Ok(())
    }

    pub fn take_flash(&self, secret: &SessionSecret) -> Result<Option<String>> {
        let mut conn = self.conn()?;
        Ok(sessions::take_flash(&mut conn, &secret.hash())?)
    }

    /// A member's sessions still open, most recently used first.
    pub(super) fn live(&self, member: MemberId) -> Result<Vec<sessions::SessionRow>> {
        let now = self.clock.now();
        let mut conn = self.conn()?;
        let rows = sessions::for_member(&mut conn, member.0)?;
        Ok(rows.into_iter().filter(|r| !expired(r, now)).collect())
    }

    /// An admin's "sign out everywhere" for a member: every session of
    /// theirs ends. Returns how many there were.
    pub fn end_all_of(&self, actor: &Actor, target: MemberId) -> Result<usize> {
        actor.require_admin()?;
        let now = self.clock.now();
        let mut conn = self.conn()?;
        db::write_transaction(&mut conn, |conn| {
            let member = self.members().in_scope(conn, actor, target)?;
            let ended = sessions::delete_for_member(conn, member.id.0, None)?;
            audit::record(
                conn,
                now,
                NewEvent {
                    org: member.org_id,
                    actor: actor.id(),
                    action: "member.signed_out",
                    token: None,
                    member: Some(member.id),
                    ip: actor.ip.as_deref(),
                    detail: format!("every session of {} ended ({ended} open)", member.email),
                },
            )?;
            Ok(ended)
        })
    }

    /// The cookie-signing key: from configuration, or generated once and
    /// kept in the database so that every instance shares it.
    pub fn cookie_key(&self, configured: Option<&str>) -> Result<Vec<u8>> {
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
        let stored = db::settings::get(&mut conn, SESSION_KEY_SETTING)?;
        if let Some(key) = stored.as_deref().and_then(from_hex) {
            return Ok(key);
        }
        // Another instance may store one at the same moment: one wins, and
        // every instance uses it.
        let kept = db::settings::insert_once(&mut conn, SESSION_KEY_SETTING, &random_hex(64)?)?;
        from_hex(&kept).ok_or_else(|| {
            Error::unexpected(
                "reading the session key",
                "the stored session key is not hex",
            )
        })
    }
}
