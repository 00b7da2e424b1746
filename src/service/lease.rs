//! PostgreSQL: the check epoch this instance's lease holds current
//! (`db::check_leases`), and the writer's side of the promise.

use crate::db::check_leases::ChangeWatch;
use crate::db::{self, DbConnection, PooledConn, changes::Mark};
use crate::error::{Error, Result};
use diesel::{Connection, PgConnection};
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// How long a lease runs after each renewal.
pub const LEASE: Duration = Duration::from_secs(1);
/// How often a lease is renewed when no change is announced.
pub const RENEW_EVERY: Duration = Duration::from_millis(200);
/// The part of a lease the instance itself relies on: it stops answering
/// from memory well before writers stop waiting for it.
const TRUSTED: Duration = Duration::from_millis(800);
/// How long a writer waits for confirmations: a lease renewed just after
/// the announcement by an instance that then died runs out about then.
/// Past it the writer waits one lease length more, unconfirmed (`Conn`).
const SETTLE_AT_MOST: Duration = Duration::from_millis(1600);

// The promise rests on these.
const _: () = assert!(TRUSTED.as_micros() < LEASE.as_micros());
const _: () = assert!(RENEW_EVERY.as_micros() * 2 < TRUSTED.as_micros());
const _: () = assert!(SETTLE_AT_MOST.as_micros() > LEASE.as_micros() + RENEW_EVERY.as_micros());

/// The epoch read at the last renewal, and until when it may be trusted.
#[derive(Default)]
pub struct LeasedMark {
    held: RwLock<Option<(Mark, Instant)>>,
}

impl LeasedMark {
    /// The check epoch as it is for every request arriving now: every
    /// change committed before is applied, or its writer is still waiting.
    /// `None` without a lease, or once it may have run out.
    pub fn current(&self) -> Option<Mark> {
        let (mark, until) = (*self.held.read().ok()?)?;
        (Instant::now() < until).then_some(mark)
    }

    /// A renewal sent at `sent` read `mark`.
    pub fn renewed(&self, mark: Mark, sent: Instant) {
        if let Ok(mut held) = self.held.write() {
            *held = Some((mark, sent + TRUSTED));
        }
    }

    /// The lease is lost (or about to be taken again): trust nothing.
    pub fn lost(&self) {
        if let Ok(mut held) = self.held.write() {
            *held = None;
        }
    }
}

/// Returns once every instance holding a lease has seen the database as
/// it is now, or its lease has run out: a change committed before this
/// call then holds for every token check, on every instance, from the
/// next request.
pub(super) fn settle(conn: &mut PgConnection) -> Result<()> {
    let Some(after) = db::check_leases::announce(conn)? else {
        return Ok(());
    };
    let started = Instant::now();
    // A holder answers in two round trips (it reads, then confirms):
    // asked often at first, then less and less.
    let mut pause = Duration::from_micros(250);
    while started.elapsed() < SETTLE_AT_MOST {
        std::thread::sleep(pause);
        if db::check_leases::unsettled(conn, after)? == 0 {
            return Ok(());
        }
        pause = if started.elapsed() < Duration::from_millis(2) {
            Duration::from_micros(100)
        } else {
            (pause * 2).min(Duration::from_millis(5))
        };
    }
    Err(Error::unexpected(
        "waiting for every instance to see a change",
        "a lease was renewed but never confirmed the change",
    ))
}

/// A pooled connection that, given back after a change a token check
/// reads (PostgreSQL), first waits until every instance has seen it: the
/// change then holds everywhere before the caller answers anyone.
pub struct Conn(pub(super) PooledConn);

impl std::ops::Deref for Conn {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.0
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.0
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let DbConnection::Postgres(conn) = &mut *self.0 else {
            return;
        };
        let changed = conn
            .instrumentation()
            .downcast_mut::<ChangeWatch>()
            .is_some_and(ChangeWatch::take);
        if changed && let Err(e) = settle(conn) {
            // Every epoch read before the change stops being trusted
            // within `TRUSTED` of its reading: wait that out instead.
            tracing::warn!(error = %e.chain(), "could not confirm that every instance saw a change; waiting for their leases to run out");
            std::thread::sleep(LEASE);
        }
    }
}
