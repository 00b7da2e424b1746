//! Follows Latchkey's revocation feed in a background thread: a token
//! announced is dropped from the cache at once; whenever the stream
//! breaks, or Latchkey says `flush`, the whole cache is emptied (what was
//! missed cannot be known).

use crate::Inner;
use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Heartbeats come every 15 s; silence for longer means a dead connection.
const SILENCE: Duration = Duration::from_secs(40);

pub fn follow(inner: Weak<Inner>, stopped: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new()
        .name("latchkey-revocations".to_owned())
        .spawn(move || {
            let mut backoff = Duration::from_millis(100);
            let mut last_id: Option<String> = None;
            while !stopped.load(Ordering::Relaxed) {
                let Some(strong) = inner.upgrade() else {
                    return;
                };
                let read = read_stream(&strong, &stopped, &mut last_id);
                // The stream broke (or never opened): forget everything.
                strong.following.store(false, Ordering::Relaxed);
                strong.cache.clear();
                drop(strong);
                if read {
                    backoff = Duration::from_millis(100);
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
    if spawned.is_err() {
        // No feed: answers live only for their TTL.
    }
}

/// Reads the stream until it ends; true when it was open for a while.
fn read_stream(inner: &Inner, stopped: &AtomicBool, last_id: &mut Option<String>) -> bool {
    let url = format!("{}/api/v1/revocations", inner.base);
    let mut request = inner
        .agent
        .get(&url)
        .config()
        .timeout_global(None)
        .timeout_per_read(Some(SILENCE))
        .build()
        .header("Authorization", &format!("Bearer {}", inner.service_token))
        .header("Accept", "text/event-stream");
    if let Some(id) = last_id.as_deref() {
        request = request.header("Last-Event-ID", id);
    }
    let Ok(response) = request.call() else {
        return false;
    };
    if response.status().as_u16() != 200 {
        return false;
    }
    let reader = BufReader::new(response.into_body().into_reader());
    let mut opened = false;
    let mut event = String::new();
    for line in reader.lines() {
        if stopped.load(Ordering::Relaxed) {
            return opened;
        }
        let Ok(line) = line else {
            return opened;
        };
        if !opened {
            // Connected: announcements from now on reach us.
            opened = true;
            inner.following.store(true, Ordering::Relaxed);
        }
        if let Some(id) = line.strip_prefix("id: ") {
            *last_id = Some(id.trim().to_owned());
        } else if let Some(name) = line.strip_prefix("event: ") {
            event = name.trim().to_owned();
            if event == "flush" {
                inner.cache.clear();
            }
        } else if let Some(data) = line.strip_prefix("data: ") {
            if event == "revoked"
                && let Ok(value) = serde_json::from_str::<serde_json::Value>(data)
                && let Some(hash) = value["token_sha256"].as_str()
            {
                inner.cache.forget(hash);
            }
        } else if line.is_empty() {
            event.clear();
        }
    }
    opened
}
