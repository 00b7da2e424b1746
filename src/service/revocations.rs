//! The revocation feed's source: announcements written with every change
//! that stops a token or narrows it (`db::revocations`), read in order,
//! and a way to wait for new ones without asking the database in a loop.

use super::Revocations;
use crate::db::{self, changes::Mark, revocations::Listener};
use crate::error::Result;
use std::time::Duration;

/// How long announcements are kept for clients that reconnect.
pub const KEPT_FOR: time::Duration = time::Duration::hours(24);

/// One announcement: a token's SHA-256 (hex), why, and its place in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub id: i64,
    pub token_sha256: String,
    pub reason: String,
}

/// Waits for the next announcement: a PostgreSQL `NOTIFY`, or a commit to
/// the SQLite file by any process (its WAL-index header changes).
pub struct RevocationWaiter {
    postgres: Option<(String, Option<Listener>)>,
    sqlite: Option<(std::sync::Arc<db::changes::SqliteWatch>, Option<Mark>)>,
}

impl RevocationWaiter {
    /// Returns when something may have been announced, or after `timeout`.
    pub fn wait(&mut self, timeout: Duration) {
        if let Some((url, listener)) = &mut self.postgres {
            if listener.is_none() {
                *listener = Listener::open(url)
                    .map_err(|e| tracing::warn!(error = %e, "revocation feed: cannot listen"))
                    .ok();
            }
            match listener {
                Some(l) => {
                    if l.wait(timeout).is_err() {
                        // Gone: open another next time; read meanwhile.
                        *listener = None;
                    }
                }
                None => std::thread::sleep(timeout),
            }
            return;
        }
        if let Some((watch, seen)) = &mut self.sqlite {
            let started = std::time::Instant::now();
            while started.elapsed() < timeout {
                let now = watch.mark();
                if now.is_some() && now != *seen {
                    *seen = now;
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            return;
        }
        std::thread::sleep(timeout);
    }
}

impl Revocations<'_> {
    /// Announcements after `after`, oldest first, at most `limit`.
    pub fn after(&self, after: i64, limit: i64) -> Result<Vec<Revocation>> {
        let rows = db::revocations::after(&mut *self.conn()?, after, limit)?;
        Ok(rows
            .into_iter()
            .map(|r| Revocation {
                id: r.id,
                token_sha256: r.token_hash,
                reason: r.reason,
            })
            .collect())
    }

    /// The oldest kept announcement's id, and the newest's (0 for none).
    pub fn window(&self) -> Result<(Option<i64>, i64)> {
        let mut conn = self.conn()?;
        Ok((
            db::revocations::first_id(&mut conn)?,
            db::revocations::last_id(&mut conn)?,
        ))
    }

    /// Forgets announcements older than `KEPT_FOR`.
    pub fn prune(&self) -> Result<usize> {
        let before = self.clock.now() - KEPT_FOR;
        Ok(db::revocations::prune(&mut *self.conn()?, before)?)
    }

    /// A waiter for this database.
    pub fn waiter(&self) -> RevocationWaiter {
        RevocationWaiter {
            postgres: self.listen_url.as_ref().map(|u| (u.to_string(), None)),
            sqlite: self.watch.as_ref().map(|w| (w.clone(), w.mark())),
        }
    }
}
