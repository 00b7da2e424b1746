//! Answers kept in memory by the token's SHA-256, each until its own
//! deadline; bounded (beyond `max` entries it starts again).

use crate::{Principal, Refusal};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

type Answer = Result<Principal, Refusal>;

pub struct Cache {
    max: usize,
    entries: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<String, (Instant, Answer)>,
    /// Bumped by every forget and clear: an answer fetched before one
    /// may already be stale, and is not kept.
    generation: u64,
}

impl Cache {
    pub fn new(max: usize) -> Cache {
        Cache {
            max: max.max(1),
            entries: Mutex::new(State::default()),
        }
    }

    /// Read before asking Latchkey; hand it back to `put`.
    pub fn generation(&self) -> u64 {
        self.entries
            .lock()
            .map(|s| s.generation)
            .unwrap_or(u64::MAX)
    }

    pub fn get(&self, key: &str) -> Option<Answer> {
        let state = self.entries.lock().ok()?;
        match state.entries.get(key) {
            Some((until, answer)) if Instant::now() < *until => Some(answer.clone()),
            _ => None,
        }
    }

    /// Keeps an answer fetched when the cache was at `generation`, unless
    /// a revocation (or a broken feed) came in between.
    pub fn put(&self, key: String, answer: Answer, ttl: Duration, generation: u64) {
        if ttl.is_zero() {
            return;
        }
        if let Ok(mut state) = self.entries.lock() {
            if state.generation != generation {
                return;
            }
            let entries = &mut state.entries;
            if entries.len() >= self.max {
                let now = Instant::now();
                entries.retain(|_, (until, _)| *until > now);
                if entries.len() >= self.max {
                    entries.clear();
                }
            }
            entries.insert(key, (Instant::now() + ttl, answer));
        }
    }

    pub fn forget(&self, key: &str) {
        if let Ok(mut state) = self.entries.lock() {
            state.entries.remove(key);
            state.generation += 1;
        }
    }

    pub fn clear(&self) {
        if let Ok(mut state) = self.entries.lock() {
            state.entries.clear();
            state.generation += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map(|s| s.entries.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_fetched_before_a_revocation_is_not_kept() {
        let cache = Cache::new(10);
        let before = cache.generation();
        cache.forget("other");
        cache.put(
            "k".into(),
            Err(Refusal::Invalid),
            Duration::from_secs(5),
            before,
        );
        assert_eq!(cache.get("k"), None);
        let now = cache.generation();
        cache.put(
            "k".into(),
            Err(Refusal::Invalid),
            Duration::from_secs(5),
            now,
        );
        assert_eq!(cache.get("k"), Some(Err(Refusal::Invalid)));
    }
}
