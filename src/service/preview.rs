//! Previews: a change run in full inside a transaction that is then
//! rolled back, so what a confirmation page says ("412 tokens lose
//! `reports:write`") is computed by the very code that saves it.

use crate::db::{self, DbConnection};
use crate::error::{Error, Result};

/// How a change's transaction ends.
enum Exit<T> {
    /// Rolled back on purpose: a preview, with what the change computed.
    Previewed(T),
    Failed(Error),
}

impl<T> From<diesel::result::Error> for Exit<T> {
    fn from(e: diesel::result::Error) -> Self {
        Exit::Failed(e.into())
    }
}

/// Runs `change` in a write transaction: committed when `apply`, rolled
/// back otherwise; either way its result is returned.
pub(super) fn run<T>(
    conn: &mut DbConnection,
    apply: bool,
    change: impl FnOnce(&mut DbConnection) -> Result<T>,
) -> Result<T> {
    run_then(conn, |_| apply, change).map(|(value, _)| value)
}

/// As `run`, deciding on what the change did: committed when `keep`
/// says so. Returns the result and whether it was committed, so a save
/// that needs confirming is computed once and never half-applied.
pub(super) fn run_then<T>(
    conn: &mut DbConnection,
    keep: impl FnOnce(&T) -> bool,
    change: impl FnOnce(&mut DbConnection) -> Result<T>,
) -> Result<(T, bool)> {
    let ended = db::write_transaction(conn, |conn| {
        let value = change(conn).map_err(Exit::Failed)?;
        if keep(&value) {
            Ok(value)
        } else {
            Err(Exit::Previewed(value))
        }
    });
    match ended {
        Ok(value) => Ok((value, true)),
        Err(Exit::Previewed(value)) => Ok((value, false)),
        Err(Exit::Failed(e)) => Err(e),
    }
}
