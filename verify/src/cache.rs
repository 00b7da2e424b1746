//! Answers kept in memory by the token's SHA-256, each until its own
//! deadline; bounded (beyond `max` entries it starts again).

use crate::{Principal, Refusal};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

type Answer = Result<Principal, Refusal>;

pub struct Cache {
    max: usize,
    entries: Mutex<HashMap<String, (Instant, Answer)>>,
}

impl Cache {
    pub fn new(max: usize) -> Cache {
        Cache {
            max: max.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &str) -> Option<Answer> {
        let entries = self.entries.lock().ok()?;
        match entries.get(key) {
            Some((until, answer)) if Instant::now() < *until => Some(answer.clone()),
            _ => None,
        }
    }

    pub fn put(&self, key: String, answer: Answer, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
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
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }

    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}
