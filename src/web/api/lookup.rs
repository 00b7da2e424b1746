//! Finding a presented token without blocking an async thread: the bridge
//! between the request and the storage read that `authenticate` judges.

use crate::domain::TokenHash;
use crate::error::Error;
use crate::service::{ChangeMark, Found, Latchkey};
use actix_web::web;
use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// Most lookups answered by one PostgreSQL query.
const MAX_BATCH: usize = 256;
/// How long a batch waits for more lookups after its first: one query
/// then answers several requests (longer waits cost more than they save).
const GATHER: std::time::Duration = std::time::Duration::from_micros(100);

type Answer = Result<Found, LookupFailed>;

/// Why the lookup thread gave no answer (one failed query answers a whole
/// batch, hence the shared cause).
#[derive(Debug, Clone, thiserror::Error)]
enum LookupFailed {
    #[error("the token lookup thread is gone")]
    ThreadGone,
    #[error("reading presented tokens")]
    Read(#[source] Arc<Error>),
}
type Reply = tokio::sync::oneshot::Sender<Answer>;
/// A lookup: the token, the state its request is judged at when the lease
/// gave one, and where to answer.
type Asked = (TokenHash, Option<ChangeMark>, Reply);

/// Coalesces concurrent lookups into one `token_hash = ANY($1)` query.
///
/// On PostgreSQL a lookup costs a network round trip and a backend wake-up,
/// far more than the query itself. Requests that arrive while a query is in
/// flight wait for the next one, which answers all of them together. Each
/// query is sent after its requests arrived, so it sees every revoke
/// committed before them.
pub struct Batcher {
    queue: Mutex<mpsc::Sender<Asked>>,
    /// Workers holding their own change-mark connection (`marks`).
    mark_connections: std::sync::atomic::AtomicUsize,
}

impl Batcher {
    pub fn start(service: &Latchkey, threads: usize) -> Arc<Batcher> {
        let (tx, rx) = mpsc::channel::<Asked>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..threads {
            let (rx, svc) = (rx.clone(), service.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("token-lookups-{n}"))
                .spawn(move || batch_loop(&svc, &rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a token lookup thread");
            }
        }
        Arc::new(Batcher {
            queue: Mutex::new(tx),
            mark_connections: Default::default(),
        })
    }

    /// Whether one more worker may open its own change-mark connection.
    pub(super) fn take_mark_connection(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        self.mark_connections
            .fetch_update(Relaxed, Relaxed, |n| {
                (n < super::marks::MAX_CONNECTIONS).then_some(n + 1)
            })
            .is_ok()
    }

    async fn lookup(&self, hash: TokenHash, at: Option<ChangeMark>) -> Answer {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let sent = self
            .queue
            .lock()
            .map_err(|_| LookupFailed::ThreadGone)?
            .send((hash, at, reply));
        sent.map_err(|_| LookupFailed::ThreadGone)?;
        answer.await.map_err(|_| LookupFailed::ThreadGone)?
    }
}

fn batch_loop(service: &Latchkey, rx: &Mutex<mpsc::Receiver<Asked>>) {
    loop {
        // Take whatever is waiting: the first blocks, the rest do not.
        let batch: Vec<Asked> = {
            let Ok(rx) = rx.lock() else { return };
            let Ok(first) = rx.recv() else { return };
            let mut batch = vec![first];
            let window = std::time::Instant::now() + GATHER;
            while batch.len() < MAX_BATCH {
                let left = window.saturating_duration_since(std::time::Instant::now());
                match rx.recv_timeout(left) {
                    Ok(item) => batch.push(item),
                    Err(_) => break,
                }
            }
            batch
        };
        // The same token may be asked for many times in a batch: once each.
        let mut unique: Vec<TokenHash> = batch.iter().map(|(h, _, _)| *h).collect();
        unique.sort_unstable_by_key(|h| h.0);
        unique.dedup();
        // One state for all, or a fresh one read with the tokens.
        let at = batch[0]
            .1
            .filter(|at| batch.iter().all(|(_, m, _)| *m == Some(*at)));
        match service.checks().find_tokens(&unique, at.as_ref()) {
            Ok(found) => {
                let by_hash: HashMap<TokenHash, Found> = unique.into_iter().zip(found).collect();
                for (hash, _, reply) in batch {
                    let _ = reply.send(Ok(by_hash.get(&hash).cloned().flatten()));
                }
            }
            Err(e) => {
                let e = LookupFailed::Read(Arc::new(e));
                for (_, _, reply) in batch {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Where a lookup was answered from (counted in `/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    /// A token found earlier, nothing it depends on changed since (as the
    /// file's header, the lease or an epoch read after the request arrived
    /// says).
    Memory,
    Database,
}

/// The token with this hash: from memory while the database has not
/// changed since the request arrived, else from the database.
pub async fn find(
    service: &web::Data<Latchkey>,
    hash: TokenHash,
    batcher: Option<&Batcher>,
) -> Result<(Found, Answered), Error> {
    if service.is_sqlite() {
        return find_on_sqlite(service, hash).await;
    }
    if let Some(batcher) = batcher {
        return find_on_postgres(service, hash, batcher).await;
    }
    let found = find_on_blocking_thread(service, hash).await?;
    Ok((found, Answered::Database))
}

/// SQLite: the shared-memory header says whether anything was committed;
/// a token not in memory is read on this thread when a connection is idle
/// (under the same mark), else on the blocking pool.
async fn find_on_sqlite(
    service: &web::Data<Latchkey>,
    hash: TokenHash,
) -> Result<(Found, Answered), Error> {
    let checks = service.checks();
    let mark = checks.sqlite_mark();
    if let Some(known) = mark.as_ref().and_then(|m| checks.cached_token(&hash, m)) {
        return Ok((Some(known), Answered::Memory));
    }
    let found = match checks.read_token_if_idle(&hash, mark.as_ref()) {
        Some(found) => found?,
        None => find_on_blocking_thread(service, hash).await?,
    };
    Ok((found, Answered::Database))
}

/// PostgreSQL: while this instance's lease holds, memory at the leased
/// state with no query; else this worker's change mark, then memory; else
/// the batch.
async fn find_on_postgres(
    service: &Latchkey,
    hash: TokenHash,
    batcher: &Batcher,
) -> Result<(Found, Answered), Error> {
    let checks = service.checks();
    let leased = checks.leased_mark();
    if let Some(mark) = &leased {
        if let Some(known) = checks.cached_token(&hash, mark) {
            return Ok((Some(known), Answered::Memory));
        }
    } else if let Some(mark) = super::marks::mark_after_now(service, batcher).await
        && let Some(known) = checks.cached_token(&hash, &mark)
    {
        return Ok((Some(known), Answered::Memory));
    }
    // Boxed: the common path's future stays small.
    let found = Box::pin(batcher.lookup(hash, leased))
        .await
        .map_err(|e| Error::Unavailable(e.into()))?;
    Ok((found, Answered::Database))
}

async fn find_on_blocking_thread(
    service: &web::Data<Latchkey>,
    hash: TokenHash,
) -> Result<Found, Error> {
    let svc = service.clone();
    Box::pin(web::block(move || svc.checks().find_token(&hash)))
        .await
        .map_err(|e| Error::unexpected("a token lookup thread failed", e))?
}
