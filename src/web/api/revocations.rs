//! `GET /api/v1/revocations`: Server-Sent Events of the SHA-256 (hex) of
//! every token that stops working or changes what it may do, from any
//! instance, so that resource servers' caches drop it within a second.
//!
//! One thread per instance waits for announcements (PostgreSQL `NOTIFY`,
//! or a commit to the SQLite file) and hands them to every connected
//! client. A client that reconnects with `Last-Event-ID` gets what it
//! missed; one that cannot be caught up is told to `flush` its cache.

use super::Bearer;
use super::problem::ApiError;
use crate::background::Periodic;
use crate::domain::Scope;
use crate::service::{Latchkey, Revocation};
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// A comment line this often keeps proxies and clients from timing out.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// Announcements held for slow clients; one that falls further behind is
/// told to flush.
const BACKLOG: usize = 4096;
/// The most a reconnecting client is replayed before being told to flush.
const MAX_REPLAY: i64 = 10_000;

/// What the feed thread hands to the clients.
#[derive(Clone)]
pub struct RevocationFeed {
    sender: broadcast::Sender<Arc<Revocation>>,
}

impl RevocationFeed {
    /// Starts the thread that reads announcements as they are committed.
    pub fn start(service: &Latchkey) -> std::io::Result<(RevocationFeed, Periodic)> {
        let (sender, _) = broadcast::channel(BACKLOG);
        let feed = RevocationFeed {
            sender: sender.clone(),
        };
        let service = service.clone();
        let mut waiter = service.revocations().waiter();
        let mut last = service
            .revocations()
            .window()
            .map(|(_, last)| last)
            .unwrap_or(0);
        let mut rounds: u32 = 0;
        let thread = Periodic::start("revocation-feed", Duration::ZERO, move |_| {
            waiter.wait(Duration::from_millis(250));
            match service.revocations().after(last, 1000) {
                Ok(rows) => {
                    for row in rows {
                        last = row.id;
                        // No one listening is not an error.
                        let _ = sender.send(Arc::new(row));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "revocation feed: cannot read"),
            }
            rounds = rounds.wrapping_add(1);
            // About every ten minutes.
            if rounds.is_multiple_of(2400)
                && let Err(e) = service.revocations().prune()
            {
                tracing::warn!(error = %e, "revocation feed: cannot prune");
            }
        })?;
        Ok((feed, thread))
    }
}

fn event(row: &Revocation) -> Bytes {
    let data = serde_json::json!({ "token_sha256": row.token_sha256, "reason": row.reason });
    Bytes::from(format!("id: {}\nevent: revoked\ndata: {data}\n\n", row.id))
}

fn flush() -> Bytes {
    Bytes::from_static(b"event: flush\ndata: {}\n\n")
}

/// The response body: what the client's task writes.
struct Events(mpsc::Receiver<Bytes>);

impl futures_core::Stream for Events {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|next| next.map(Ok))
    }
}

/// `Last-Event-ID`, when the client sent one.
fn last_event_id(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    match req.headers().get("last-event-id") {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .filter(|id| *id >= 0)
            .map(Some)
            .ok_or_else(|| ApiError::bad_request("Last-Event-ID must be an event id (0 or more).")),
    }
}

pub(super) async fn feed(
    req: HttpRequest,
    bearer: Bearer,
    service: web::Data<Latchkey>,
    hub: web::Data<RevocationFeed>,
) -> Result<HttpResponse, ApiError> {
    bearer.require(Scope::TOKENS_INTROSPECT)?;
    let resume = last_event_id(&req)?;
    // The feed's own token: when it is announced, the stream ends (the
    // client reconnects, and is judged again).
    let own = super::bearer_token(&req)
        .and_then(|raw| service.checks().token_hash(raw).ok())
        .map(|h| h.to_hex());
    // Listen before reading what was missed: nothing falls in between.
    let mut live = hub.sender.subscribe();
    let svc = service.clone();
    let (missed, window) = web::block(move || {
        let window = svc.revocations().window()?;
        let missed = match resume {
            Some(after) => svc.revocations().after(after, MAX_REPLAY + 1)?,
            None => Vec::new(),
        };
        Ok::<_, crate::error::Error>((missed, window))
    })
    .await??;
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    actix_web::rt::spawn(async move {
        let mut sent = window.1;
        let mut first = vec![Bytes::from_static(b": connected\n\n")];
        if let Some(after) = resume {
            // Pruned past where the client stopped, too far behind, or an
            // id this database never gave (a restored or another database).
            let gap = window.0.is_some_and(|oldest| after + 1 < oldest);
            let unknown = after > window.1;
            if unknown {
                first.push(flush());
                sent = window.1;
            } else if gap || missed.len() as i64 > MAX_REPLAY {
                first.push(flush());
            } else {
                first.extend(missed.iter().map(event));
            }
            if !unknown {
                sent = missed.last().map_or(sent.max(after), |r| r.id);
            }
        }
        for bytes in first {
            if tx.send(bytes).await.is_err() {
                return;
            }
        }
        loop {
            let next = actix_web::rt::time::timeout(HEARTBEAT, live.recv()).await;
            let bytes = match next {
                Err(_) => Bytes::from_static(b": heartbeat\n\n"),
                Ok(Ok(row)) if row.id <= sent => continue,
                Ok(Ok(row)) if own.as_deref() == Some(row.token_sha256.as_str()) => {
                    let _ = tx.send(event(&row)).await;
                    return;
                }
                Ok(Ok(row)) => {
                    sent = row.id;
                    event(&row)
                }
                // Fell behind the backlog: caches cannot know what they missed.
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => flush(),
                Ok(Err(broadcast::error::RecvError::Closed)) => return,
            };
            if tx.send(bytes).await.is_err() {
                return;
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(Events(rx)))
}
