//! The webhook sender: a background thread of `serve` that records expiry
//! notices and delivers due events, signed the Standard Webhooks way and
//! retried with exponential back-off (see `service::webhooks` for the
//! decisions).

use crate::background::{Periodic, StopSignal};
use crate::domain::Malformed;
use crate::service::{Latchkey, PendingWebhook, WebhookRetry};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Standard Webhooks: the event's id, the same on every retry.
pub const ID_HEADER: &str = "webhook-id";
/// Standard Webhooks: when this attempt was signed (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// Standard Webhooks: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// The event's type, e.g. `token.expiring`.
pub const EVENT_HEADER: &str = "Latchkey-Event";
/// Secrets written the Standard Webhooks way are base64 after this.
const STANDARD_SECRET_PREFIX: &str = "whsec_";

const MIN_SECRET_LEN: usize = 16;
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How often (by the service's clock) tokens are looked at for notices.
const SCAN_INTERVAL: time::Duration = time::Duration::minutes(1);

/// Webhook deliveries by outcome, counted by the sender thread.
#[derive(Debug, Default)]
pub struct WebhookCounters {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub given_up: AtomicU64,
}

#[derive(Clone)]
pub struct WebhookConfig {
    /// `LATCHKEY_WEBHOOK_URL`: http:// or https://.
    pub url: String,
    /// `LATCHKEY_WEBHOOK_SECRET`, as the HMAC key: its UTF-8 bytes, or
    /// the base64-decoded bytes of a `whsec_…` value.
    key: Vec<u8>,
    /// `LATCHKEY_WEBHOOK_POLL_MS`: how often due events are looked for.
    pub poll: Duration,
    /// The URL's host, for logs: the URL itself may carry a credential
    /// (many receivers put one in the path).
    host: String,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &"[redacted]")
            .field("key", &"[redacted]")
            .field("poll", &self.poll)
            .finish()
    }
}

impl WebhookConfig {
    pub fn new(url: &str, secret: &str, poll: Duration) -> Result<WebhookConfig, Malformed> {
        let uri: ureq::http::Uri = url
            .parse()
            .map_err(|_| Malformed(format!("LATCHKEY_WEBHOOK_URL={url:?} is not a URL")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(Malformed(format!(
                "LATCHKEY_WEBHOOK_URL={url:?} must be an http:// or https:// URL with a host"
            )));
        }
        let key = signing_key(secret)?;
        Ok(WebhookConfig {
            url: url.to_owned(),
            key,
            poll,
            host: uri.host().unwrap_or_default().to_owned(),
        })
    }
}

/// The HMAC key a secret stands for.
pub fn signing_key(secret: &str) -> Result<Vec<u8>, Malformed> {
    if let Some(encoded) = secret.strip_prefix(STANDARD_SECRET_PREFIX) {
        let key = BASE64.decode(encoded.trim()).map_err(|_| {
            Malformed(
                "LATCHKEY_WEBHOOK_SECRET starts with whsec_ but the rest is not base64".to_owned(),
            )
        })?;
        if key.len() < MIN_SECRET_LEN {
            return Err(Malformed(format!(
                "LATCHKEY_WEBHOOK_SECRET: a whsec_ secret must decode to {MIN_SECRET_LEN} bytes or more"
            )));
        }
        return Ok(key);
    }
    if secret.chars().count() < MIN_SECRET_LEN {
        return Err(Malformed(format!(
            "LATCHKEY_WEBHOOK_SECRET must be set, {MIN_SECRET_LEN} characters or more, when LATCHKEY_WEBHOOK_URL is"
        )));
    }
    Ok(secret.as_bytes().to_vec())
}

/// The `webhook-signature` value for one attempt: `v1,` and the base64
/// HMAC-SHA256 of `id.timestamp.body` under `key`.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// Starts the sender; `Periodic::stop` ends it after the delivery in flight.
pub fn start_sender(
    service: Latchkey,
    config: WebhookConfig,
    counters: Arc<WebhookCounters>,
) -> std::io::Result<Periodic> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(SEND_TIMEOUT))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("Latchkey/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent();
    tracing::info!(host = %config.host, "webhook sender started");
    let poll = config.poll;
    let mut last_scan: Option<time::PrimitiveDateTime> = None;
    Periodic::start("webhook-sender", poll, move |stop| {
        // Thresholds are days apart: looking for newly due notices once a
        // minute is enough; due deliveries are looked for at every poll.
        let now = service.clock().now();
        let scan = last_scan.is_none_or(|at| now - at >= SCAN_INTERVAL);
        if scan {
            last_scan = Some(now);
        }
        tick(&service, &config, &agent, stop, scan, &counters);
    })
}

/// Records due notices (when `scan`), then sends due events until none is left or a stop
/// is asked for.
fn tick(
    service: &Latchkey,
    config: &WebhookConfig,
    agent: &ureq::Agent,
    stop: &StopSignal<'_>,
    scan: bool,
    counters: &WebhookCounters,
) {
    if scan {
        match service.webhooks().enqueue_expiry_notices() {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "expiry notices recorded"),
            Err(e) => tracing::warn!(error = %e, "could not record expiry notices"),
        }
        match service.webhooks().enqueue_inactivity_notices() {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "inactivity notices recorded"),
            Err(e) => tracing::warn!(error = %e, "could not record inactivity notices"),
        }
    }
    while !stop.requested() {
        let pending = match service.webhooks().claim_due() {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not read due webhook events");
                return;
            }
        };
        let sent = send(agent, config, &pending);
        let counter = match &sent {
            Ok(()) => &counters.delivered,
            Err(_) => &counters.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let result = match sent {
            Ok(()) => service.webhooks().delivered(pending.id).map(|()| {
                tracing::info!(event = %pending.event_id, attempt = pending.attempt, "webhook delivered");
            }),
            Err(why) => service.webhooks().failed(&pending, &why).map(|next| match next {
                WebhookRetry::At(at) => tracing::warn!(
                    event = %pending.event_id, attempt = pending.attempt, error = %why, retry_at = %at,
                    "webhook delivery failed"
                ),
                WebhookRetry::GaveUp => {
                    counters.given_up.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                    event = %pending.event_id, attempt = pending.attempt, error = %why,
                    "webhook delivery failed; giving up"
                    )
                }
            }),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not record a webhook delivery");
            return;
        }
    }
}

fn send(agent: &ureq::Agent, config: &WebhookConfig, event: &PendingWebhook) -> Result<(), String> {
    let body = event.payload.as_bytes();
    // Signed at each attempt: a receiver refuses old timestamps, so a
    // captured delivery cannot be replayed later.
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let response = agent
        .post(&config.url)
        .header("Content-Type", "application/json")
        .header(EVENT_HEADER, &event.event_type)
        .header(ID_HEADER, &event.event_id)
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(
            SIGNATURE_HEADER,
            signature(&config.key, &event.event_id, timestamp, body),
        )
        .send(body)
        .map_err(|e| e.to_string())?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered HTTP {}", status.as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_the_standard_webhooks_reference() {
        // The example of the Standard Webhooks specification's test suite.
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("key");
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn plain_secrets_are_their_bytes() {
        assert_eq!(
            signing_key("a plain secret of length").expect("key"),
            b"a plain secret of length".to_vec()
        );
        assert!(signing_key("short").is_err());
        assert!(signing_key("whsec_not*base64!").is_err());
        assert!(signing_key("whsec_c2hvcnQ=").is_err());
    }
}
