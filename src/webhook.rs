//! The webhook sender: a background thread of `serve` that records expiry
//! notices and delivers due events, signed with HMAC-SHA256 and retried
//! with exponential back-off (see `service::webhooks` for the decisions).

use crate::background::{Periodic, StopSignal};
use crate::domain::bytes::{hmac_sha256, to_hex};
use crate::service::{Latchkey, PendingWebhook, WebhookRetry};
use std::time::Duration;

/// The header carrying `sha256=<hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "Latchkey-Signature";
/// The event's type, e.g. `token.expiring`.
pub const EVENT_HEADER: &str = "Latchkey-Event";
/// The event's id, the same on every retry.
pub const DELIVERY_HEADER: &str = "Latchkey-Delivery";

const MIN_SECRET_LEN: usize = 16;
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How often (by the service's clock) tokens are looked at for notices.
const SCAN_INTERVAL: time::Duration = time::Duration::minutes(1);

#[derive(Clone)]
pub struct WebhookConfig {
    /// `LATCHKEY_WEBHOOK_URL`: http:// or https://.
    pub url: String,
    /// `LATCHKEY_WEBHOOK_SECRET`: the HMAC key, 16 characters or more.
    pub secret: String,
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
            .field("secret", &"[redacted]")
            .field("poll", &self.poll)
            .finish()
    }
}

impl WebhookConfig {
    pub const DEFAULT_POLL: Duration = Duration::from_secs(10);

    pub fn new(url: &str, secret: &str, poll: Duration) -> Result<WebhookConfig, String> {
        let uri: ureq::http::Uri = url
            .parse()
            .map_err(|_| format!("LATCHKEY_WEBHOOK_URL={url:?} is not a URL"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(format!(
                "LATCHKEY_WEBHOOK_URL={url:?} must be an http:// or https:// URL with a host"
            ));
        }
        if secret.chars().count() < MIN_SECRET_LEN {
            return Err(format!(
                "LATCHKEY_WEBHOOK_SECRET must be set, {MIN_SECRET_LEN} characters or more, when LATCHKEY_WEBHOOK_URL is"
            ));
        }
        Ok(WebhookConfig {
            url: url.to_owned(),
            secret: secret.to_owned(),
            poll,
            host: uri.host().unwrap_or_default().to_owned(),
        })
    }

    /// `None` when `LATCHKEY_WEBHOOK_URL` is unset or empty.
    pub fn from_env() -> Result<Option<WebhookConfig>, String> {
        let url = std::env::var("LATCHKEY_WEBHOOK_URL").unwrap_or_default();
        if url.trim().is_empty() {
            return Ok(None);
        }
        let secret = std::env::var("LATCHKEY_WEBHOOK_SECRET").unwrap_or_default();
        let poll = match std::env::var("LATCHKEY_WEBHOOK_POLL_MS") {
            Err(_) => Self::DEFAULT_POLL,
            Ok(v) => v
                .parse::<u64>()
                .ok()
                .filter(|ms| (10..=3_600_000).contains(ms))
                .map(Duration::from_millis)
                .ok_or_else(|| {
                    format!("LATCHKEY_WEBHOOK_POLL_MS={v:?} must be a number from 10 to 3600000")
                })?,
        };
        Self::new(url.trim(), &secret, poll).map(Some)
    }
}

/// `sha256=<hex>`: the value of the signature header for `body`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", to_hex(&hmac_sha256(secret.as_bytes(), body)))
}

/// Starts the sender; `Periodic::stop` ends it after the delivery in flight.
pub fn start_sender(service: Latchkey, config: WebhookConfig) -> std::io::Result<Periodic> {
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
        tick(&service, &config, &agent, stop, scan);
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
) {
    if scan {
        match service.enqueue_expiry_notices() {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "expiry notices recorded"),
            Err(e) => tracing::warn!(error = %e, "could not record expiry notices"),
        }
    }
    while !stop.requested() {
        let pending = match service.claim_due_webhook() {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not read due webhook events");
                return;
            }
        };
        let result = match send(agent, config, &pending) {
            Ok(()) => service.webhook_delivered(pending.id).map(|()| {
                tracing::info!(event = %pending.event_id, attempt = pending.attempt, "webhook delivered");
            }),
            Err(why) => service.webhook_failed(&pending, &why).map(|next| match next {
                WebhookRetry::At(at) => tracing::warn!(
                    event = %pending.event_id, attempt = pending.attempt, error = %why, retry_at = %at,
                    "webhook delivery failed"
                ),
                WebhookRetry::GaveUp => tracing::error!(
                    event = %pending.event_id, attempt = pending.attempt, error = %why,
                    "webhook delivery failed; giving up"
                ),
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
    let response = agent
        .post(&config.url)
        .header("Content-Type", "application/json")
        .header(EVENT_HEADER, &event.event_type)
        .header(DELIVERY_HEADER, &event.event_id)
        .header(SIGNATURE_HEADER, signature(&config.secret, body))
        .send(body)
        .map_err(|e| e.to_string())?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered HTTP {}", status.as_u16()))
    }
}
