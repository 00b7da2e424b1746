//! Successful requests per token per day, for the token's chart.
//!
//! Counting must not turn a verification into a database write: each
//! instance counts in memory and adds its counts to `token_usage` once a
//! minute (and when it stops), one upsert per token and day.

use super::Usage;
use crate::db::{self, DbConnection};
use crate::domain::TokenId;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::Mutex;
use time::{Date, Duration};

/// Days in a token's usage chart, today included.
pub const USAGE_DAYS: i64 = 30;

/// Counts not yet written, by token and UTC day.
#[derive(Debug, Default)]
pub struct UsageCounter {
    pending: Mutex<Counts>,
}

type Counts = HashMap<(i64, Date), i64, foldhash::fast::RandomState>;

impl UsageCounter {
    pub fn count(&self, token: TokenId, day: Date) {
        if let Ok(mut pending) = self.pending.lock() {
            *pending.entry((token.0, day)).or_insert(0) += 1;
        }
    }

    fn take(&self) -> Counts {
        self.pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    }

    /// Puts counts back after a failed write, to try again next time.
    fn restore(&self, counts: Counts) {
        if let Ok(mut pending) = self.pending.lock() {
            for (key, n) in counts {
                *pending.entry(key).or_insert(0) += n;
            }
        }
    }

    fn pending_for(&self, token: TokenId) -> Vec<(Date, i64)> {
        self.pending
            .lock()
            .map(|p| {
                p.iter()
                    .filter(|((id, _), _)| *id == token.0)
                    .map(|((_, day), n)| (*day, *n))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Usage<'_> {
    /// Counts one request `token` was accepted for, on `day` (in memory).
    pub fn count(&self, token: TokenId, day: Date) {
        self.pending_usage.count(token, day);
    }

    /// Adds what this instance counted to the database. Returns the number
    /// of (token, day) rows written; on failure the counts are kept.
    pub fn flush(&self) -> Result<usize> {
        let counts = self.pending_usage.take();
        if counts.is_empty() {
            return Ok(0);
        }
        let mut rows: Vec<(i64, Date, i64)> = counts
            .iter()
            .map(|((token, day), n)| (*token, *day, *n))
            .collect();
        // The same order in every instance: two flushes that touch the same
        // rows lock them in turn and never deadlock.
        rows.sort_unstable();
        let written = self.conn().and_then(|mut conn| {
            db::write_transaction(&mut conn, |c| Ok::<_, Error>(db::usage::add(c, &rows)?))
        });
        match written {
            Ok(()) => Ok(rows.len()),
            Err(e) => {
                self.pending_usage.restore(counts);
                Err(e)
            }
        }
    }

    /// Requests per day over the last `USAGE_DAYS` days, oldest first, with
    /// what this instance has not written yet.
    pub(super) fn by_day(
        &self,
        conn: &mut DbConnection,
        token: TokenId,
    ) -> Result<Vec<(Date, i64)>> {
        let today = self.clock.today();
        let first = today - Duration::days(USAGE_DAYS - 1);
        let stored = db::usage::since(conn, token, first)?;
        let mut by_day: HashMap<Date, i64> = stored.into_iter().collect();
        for (day, n) in self.pending_usage.pending_for(token) {
            *by_day.entry(day).or_insert(0) += n;
        }
        Ok((0..USAGE_DAYS)
            .map(|i| {
                let day = first + Duration::days(i);
                (day, by_day.get(&day).copied().unwrap_or(0))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_many_threads_all_add_up() {
        let counter = std::sync::Arc::new(UsageCounter::default());
        let day = time::macros::date!(2026 - 12 - 01);
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        counter.count(TokenId(7), day);
                    }
                    counter.count(TokenId(8), day);
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert_eq!(counter.pending_for(TokenId(7)), vec![(day, 1200)]);
        let taken = counter.take();
        assert_eq!(taken.get(&(7, day)), Some(&1200));
        assert_eq!(taken.get(&(8, day)), Some(&12));
        assert!(counter.take().is_empty());
        counter.restore(taken);
        assert_eq!(counter.pending_for(TokenId(8)), vec![(day, 12)]);
    }
}
