//! Found tokens kept between requests, answered only while what a check
//! reads provably has not changed (`db::changes`; on PostgreSQL with a
//! lease, `db::check_leases`): a revoke committed anywhere empties the
//! cache before the next request is judged. Entries also expire after a
//! second, whatever happens.

use super::authenticate::Known;
use crate::db::changes::Mark;
use crate::domain::Catalogue;
use crate::domain::TokenHash;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

const MAX_AGE: Duration = Duration::from_secs(1);
/// Beyond this many tokens the cache starts again (a flood of distinct
/// valid tokens costs queries, never memory).
const MAX_ENTRIES: usize = 10_000;

/// Read-locked on the hot path: request threads answering from it never
/// wait for one another, only for a change of mark or a new entry.
#[derive(Default)]
pub struct CredentialCache {
    state: RwLock<State>,
}

#[derive(Default)]
struct State {
    /// The database state every entry was read at (or after).
    mark: Option<Mark>,
    entries: HashMap<TokenHash, (Instant, Arc<Known>), foldhash::fast::RandomState>,
    /// The scope catalogue as read at `mark`.
    catalogue: Option<Arc<Catalogue>>,
}

impl CredentialCache {
    /// The token with this hash as read at `mark`, if the database is
    /// still at `mark`. A new mark empties the cache.
    pub fn get(&self, hash: &TokenHash, mark: &Mark) -> Option<Arc<Known>> {
        {
            let state = self.state.read().ok()?;
            if state.mark.as_ref() == Some(mark) {
                return match state.entries.get(hash) {
                    Some((at, found)) if at.elapsed() < MAX_AGE => Some(found.clone()),
                    _ => None,
                };
            }
        }
        let mut state = self.state.write().ok()?;
        if state.mark.as_ref() != Some(mark) {
            state.entries.clear();
            state.catalogue = None;
            state.mark = Some(*mark);
        }
        None
    }

    /// Keeps a token read after `mark` was taken; dropped when the
    /// database has moved on since.
    pub fn put(&self, hash: TokenHash, mark: &Mark, found: Arc<Known>) {
        let Ok(mut state) = self.state.write() else {
            return;
        };
        if state.mark.as_ref() != Some(mark) {
            return;
        }
        if state.entries.len() >= MAX_ENTRIES {
            state.entries.clear();
        }
        state.entries.insert(hash, (Instant::now(), found));
    }

    /// The scope catalogue read at `mark`, if the database is still there.
    pub fn catalogue(&self, mark: &Mark) -> Option<Arc<Catalogue>> {
        let state = self.state.read().ok()?;
        if state.mark.as_ref() != Some(mark) {
            return None;
        }
        state.catalogue.clone()
    }

    /// Keeps the catalogue read after `mark` was taken.
    pub fn put_catalogue(&self, mark: &Mark, catalogue: Arc<Catalogue>) {
        if let Ok(mut state) = self.state.write()
            && state.mark.as_ref() == Some(mark)
        {
            state.catalogue = Some(catalogue);
        }
    }
}
