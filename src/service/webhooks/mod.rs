//! Webhook events: what to send, decided once in the database, and the
//! state of each delivery. Sending is `delivery`'s.
//!
//! An event's `dedupe_key` is unique. Every instance may notice that a
//! token crossed a threshold; the insert of only one of them succeeds, and
//! a delivery is claimed by one instance at a time.

pub mod delivery;

use super::Latchkey;
use super::Webhooks;
use super::tokens::{opt_rfc3339, rfc3339};
use crate::db::{self, DbConnection};
use crate::error::Result;
use serde::Serialize;
use time::{Duration, PrimitiveDateTime};

/// Expiry notices go out when a token has this many days left, smallest
/// first; a threshold already passed when the token was made is skipped.
pub const EXPIRY_THRESHOLDS_DAYS: [i64; 3] = [1, 7, 30];
/// Deliveries tried before giving up (about a day of back-off).
pub const MAX_ATTEMPTS: i64 = 12;
/// How long a claimed delivery belongs to the instance sending it.
const CLAIM: Duration = Duration::seconds(60);
/// Back-off: 30 s, doubling, at most 6 hours.
const FIRST_RETRY: Duration = Duration::seconds(30);
const LONGEST_RETRY: Duration = Duration::hours(6);
/// Tokens looked at per query when enqueueing notices.
const SCAN_CHUNK: usize = 500;

/// A claimed delivery, ready to send.
#[derive(Debug, Clone)]
pub struct PendingWebhook {
    pub id: i64,
    /// Stable across retries: receivers deduplicate on it.
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    /// 1 for the first try.
    pub attempt: i64,
}

/// What happens after a failed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookRetry {
    At(PrimitiveDateTime),
    GaveUp,
}

/// The wait before attempt `attempt + 1`.
pub fn backoff(attempt: i64) -> Duration {
    let doublings = u32::try_from((attempt - 1).clamp(0, 20)).unwrap_or(20);
    let wait = FIRST_RETRY * 2_i32.saturating_pow(doublings);
    wait.min(LONGEST_RETRY)
}

#[derive(Serialize)]
struct EventBody<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(with = "rfc3339")]
    created_at: PrimitiveDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    threshold_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_tokens: Option<usize>,
    /// `token.inactive_soon`: the policy's number of days.
    #[serde(skip_serializing_if = "Option::is_none")]
    inactive_after_days: Option<u32>,
    token: TokenRef<'a>,
}

/// What an event says about a token: never its secret or hash.
#[derive(Serialize)]
struct TokenRef<'a> {
    id: i64,
    name: &'a str,
    hint: &'a str,
    owner_email: &'a str,
    #[serde(with = "opt_rfc3339")]
    expires_at: Option<PrimitiveDateTime>,
}

impl<'a> TokenRef<'a> {
    fn of(row: &'a db::TokenRow, owner_email: &'a str) -> Self {
        TokenRef {
            id: row.id,
            name: &row.name,
            hint: &row.hint,
            owner_email,
            expires_at: row.expires_at,
        }
    }
}

/// The threshold a token is due a notice for now, if any: the smallest one
/// it is within, provided the token existed before crossing it.
pub fn due_threshold(
    created_at: PrimitiveDateTime,
    expires_at: PrimitiveDateTime,
    now: PrimitiveDateTime,
) -> Option<i64> {
    if now >= expires_at {
        return None;
    }
    EXPIRY_THRESHOLDS_DAYS.into_iter().find(|&days| {
        let crossing = expires_at - Duration::days(days);
        now >= crossing && created_at < crossing
    })
}

/// A fresh event id, `msg_` and 128 random bits: unique across
/// installations and restores, so a receiver that drops repeated ids never
/// drops a new event.
fn new_event_id() -> Result<String> {
    Ok(format!("msg_{}", crate::domain::bytes::random_hex(16)?))
}

/// Records `body` unless an event with `dedupe_key` exists (the decision
/// every instance may try to make, and one makes).
fn insert_event(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    org_id: i64,
    token_id: i64,
    dedupe_key: &str,
    body: &EventBody<'_>,
) -> Result<usize> {
    let payload = serde_json::to_string(body)
        .map_err(|e| crate::error::Error::unexpected("writing a webhook event", e))?;
    Ok(db::webhooks::insert_once(
        conn,
        &db::NewWebhookEventRow {
            org_id,
            dedupe_key,
            event_type: body.kind,
            token_id: Some(token_id),
            payload: &payload,
            created_at: now,
            next_attempt_at: now,
        },
    )?)
}

/// Within a revoke-chain transaction: tell the webhook a rotated-away
/// token came back. One event per presented token.
pub(super) fn enqueue_reuse(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    token: &db::TokenRow,
    ip: Option<&str>,
    revoked: usize,
) -> Result<usize> {
    let owner_email = db::members::email(conn, token.owner_id)?.unwrap_or_default();
    let key = format!("token.reuse_detected:{}", token.id);
    let id = new_event_id()?;
    let body = EventBody {
        id: &id,
        kind: "token.reuse_detected",
        created_at: now,
        threshold_days: None,
        ip,
        revoked_tokens: Some(revoked),
        inactive_after_days: None,
        token: TokenRef::of(token, &owner_email),
    };
    insert_event(conn, now, token.org_id, token.id, &key, &body)
}

/// Within the transaction that audits it: tell the webhook a canary was
/// used. One event per reported use, due at once.
pub(super) fn enqueue_canary(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    token: &db::TokenRow,
    ip: Option<&str>,
) -> Result<usize> {
    let owner_email = db::members::email(conn, token.owner_id)?.unwrap_or_default();
    let id = new_event_id()?;
    let key = format!("token.canary_used:{}:{id}", token.id);
    let body = EventBody {
        id: &id,
        kind: "token.canary_used",
        created_at: now,
        threshold_days: None,
        ip,
        revoked_tokens: None,
        inactive_after_days: None,
        token: TokenRef::of(token, &owner_email),
    };
    insert_event(conn, now, token.org_id, token.id, &key, &body)
}

impl Latchkey {
    /// Makes this instance record webhook events (set when `serve` has a
    /// webhook URL).
    pub fn with_webhooks(mut self) -> Self {
        self.record_webhooks = true;
        self
    }

    pub fn webhooks_enabled(&self) -> bool {
        self.record_webhooks
    }
}

impl Webhooks<'_> {
    /// Records an expiry notice for every active token that is due one and
    /// has none yet. Returns how many this call recorded.
    pub fn enqueue_expiry_notices(&self) -> Result<usize> {
        let now = self.clock.now();
        let horizon = now + Duration::days(EXPIRY_THRESHOLDS_DAYS[2]);
        let mut conn = self.conn()?;
        let candidates = db::webhooks::expiring_tokens(&mut conn, now, horizon)?;
        let mut recorded = 0;
        for chunk in candidates.chunks(SCAN_CHUNK) {
            let ids: Vec<i64> = chunk.iter().map(|(row, _)| row.id).collect();
            let known = db::webhooks::keys_for_tokens(&mut conn, &ids)?;
            for (row, email) in chunk {
                let Some(expires_at) = row.expires_at else {
                    continue;
                };
                let Some(days) = due_threshold(row.created_at, expires_at, now) else {
                    continue;
                };
                let key = format!("token.expiring:{}:{days}d", row.id);
                if known.contains(&key) {
                    continue;
                }
                let id = new_event_id()?;
                let body = EventBody {
                    id: &id,
                    kind: "token.expiring",
                    created_at: now,
                    threshold_days: Some(days),
                    ip: None,
                    revoked_tokens: None,
                    inactive_after_days: None,
                    token: TokenRef::of(row, email),
                };
                recorded += insert_event(&mut conn, now, row.org_id, row.id, &key, &body)?;
            }
        }
        Ok(recorded)
    }

    /// Records a `token.inactive_soon` notice for every token the
    /// inactivity policy revokes within a week; once per token and idle
    /// spell (a use starts a new one). Returns how many were recorded.
    pub fn enqueue_inactivity_notices(&self) -> Result<usize> {
        let now = self.clock.now();
        let mut conn = self.conn()?;
        let due = self.tokens().inactive_soon(&mut conn)?;
        let mut recorded = 0;
        for chunk in due.chunks(SCAN_CHUNK) {
            let ids: Vec<i64> = chunk.iter().map(|(row, _, _)| row.id).collect();
            let known = db::webhooks::keys_for_tokens(&mut conn, &ids)?;
            for (row, email, days) in chunk {
                let since = row.last_used_at.unwrap_or(row.created_at);
                let key = format!(
                    "token.inactive_soon:{}:{}",
                    row.id,
                    since.assume_utc().unix_timestamp()
                );
                if known.contains(&key) {
                    continue;
                }
                let id = new_event_id()?;
                let body = EventBody {
                    id: &id,
                    kind: "token.inactive_soon",
                    created_at: now,
                    threshold_days: None,
                    ip: None,
                    revoked_tokens: None,
                    inactive_after_days: Some(*days),
                    token: TokenRef::of(row, email),
                };
                recorded += insert_event(&mut conn, now, row.org_id, row.id, &key, &body)?;
            }
        }
        Ok(recorded)
    }

    /// Takes the oldest due delivery for this instance, if any. A claim
    /// lasts a minute; an instance that dies mid-send leaves it to be
    /// claimed again after that.
    pub fn claim_due(&self) -> Result<Option<PendingWebhook>> {
        let now = self.clock.now();
        let mut conn = self.conn()?;
        let Some(row) = db::webhooks::claim_due(&mut conn, now, CLAIM)? else {
            return Ok(None);
        };
        // The id the payload carries, the same on every retry.
        let event_id = serde_json::from_str::<serde_json::Value>(&row.payload)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_owned))
            .unwrap_or(row.dedupe_key);
        Ok(Some(PendingWebhook {
            id: row.id,
            event_id,
            event_type: row.event_type,
            payload: row.payload,
            attempt: row.attempts,
        }))
    }

    pub fn delivered(&self, id: i64) -> Result<()> {
        let now = self.clock.now();
        let mut conn = self.conn()?;
        db::webhooks::delivered(&mut conn, id, now)?;
        Ok(())
    }

    /// Records a failed try and schedules the next, or gives up after
    /// `MAX_ATTEMPTS`.
    pub fn failed(&self, pending: &PendingWebhook, error: &str) -> Result<WebhookRetry> {
        let now = self.clock.now();
        let mut conn = self.conn()?;
        let error: String = error.chars().take(500).collect();
        let outcome = if pending.attempt >= MAX_ATTEMPTS {
            WebhookRetry::GaveUp
        } else {
            WebhookRetry::At(now + backoff(pending.attempt))
        };
        let (failed_at, next_attempt_at) = match outcome {
            WebhookRetry::GaveUp => (Some(now), now),
            WebhookRetry::At(at) => (None, at),
        };
        db::webhooks::failed(&mut conn, pending.id, failed_at, next_attempt_at, &error)?;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn back_off_doubles_up_to_six_hours() {
        assert_eq!(backoff(1), Duration::seconds(30));
        assert_eq!(backoff(2), Duration::seconds(60));
        assert_eq!(backoff(5), Duration::seconds(480));
        assert_eq!(backoff(11), Duration::hours(6));
        assert_eq!(backoff(1000), Duration::hours(6));
    }

    #[test]
    fn thresholds_are_the_smallest_crossed_after_creation() {
        let created = datetime!(2026-01-01 00:00);
        let expires = datetime!(2026-03-01 00:00);
        let at = |days: i64| expires - Duration::days(days);
        assert_eq!(due_threshold(created, expires, at(31)), None);
        assert_eq!(due_threshold(created, expires, at(30)), Some(30));
        assert_eq!(due_threshold(created, expires, at(8)), Some(30));
        assert_eq!(due_threshold(created, expires, at(6)), Some(7));
        assert_eq!(
            due_threshold(created, expires, expires - Duration::hours(1)),
            Some(1)
        );
        assert_eq!(due_threshold(created, expires, expires), None);
        // A token made with 10 days to live: no 30-day notice.
        let short = expires - Duration::days(10);
        assert_eq!(due_threshold(short, expires, at(9)), None);
        assert_eq!(due_threshold(short, expires, at(7)), Some(7));
        // Made with 12 hours to live: no notice at all.
        let shorter = expires - Duration::hours(12);
        assert_eq!(
            due_threshold(shorter, expires, at(0) - Duration::hours(1)),
            None
        );
    }
}
