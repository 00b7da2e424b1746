//! PostgreSQL: whether the database changed since a request arrived, asked
//! by each worker thread on its own non-blocking connection.
//!
//! Used while this instance holds no lease (`lease`). One epoch query is in
//! flight per worker at a time. Every request that arrives while it runs
//! waits for the next one, which answers all of them: that query is sent
//! after they arrived, so it sees every commit made before them, by any
//! instance. A token found before and
//! unchanged since is then answered from memory on the worker itself —
//! no hop to another thread, no pool connection. Anything else (a token
//! not in memory, no connection) goes to the lookup batch as before.

use super::lookup::Batcher;
use crate::service::{ChangeMark, Latchkey};
use actix_web::rt;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::Notify;

/// The same query `db::changes` sends.
const EPOCH: &str = crate::db::changes::EPOCH;
/// How long a worker waits before connecting again after a failure.
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// A query slower than this counts as failed (its waiters use the batch,
/// and the connection is made again).
const QUERY_TIMEOUT: Duration = Duration::from_secs(1);
/// Workers beyond this many use the batch: a many-core server does not
/// take a connection per core.
pub const MAX_CONNECTIONS: usize = 8;

/// A worker's connection and the queries made on it.
struct WorkerMarks {
    /// Queries started, and answered, so far (numbered from 1).
    started: Cell<u64>,
    answered: Cell<u64>,
    /// The query number some request waits for.
    wanted: Cell<u64>,
    /// The mark the last answered query read (`None`: it failed).
    latest: Cell<Option<ChangeMark>>,
    /// Whether the connection is up (else requests use the batch).
    connected: Cell<bool>,
    /// Wakes the query loop when a request wants a new query.
    demand: Notify,
    /// Wakes the requests when a query is answered.
    done: Notify,
}

thread_local! {
    /// Per server (tests run several in one process), keyed by its batch;
    /// `None`: this worker uses the batch only.
    static WORKERS: RefCell<HashMap<usize, Option<Rc<WorkerMarks>>>> =
        RefCell::new(HashMap::new());
}

/// A mark read by a query sent after this call, or `None` when this
/// worker has no connection (the caller asks the batch instead).
pub async fn mark_after_now(service: &Latchkey, batcher: &Batcher) -> Option<ChangeMark> {
    let marks = worker(service, batcher)?;
    if !marks.connected.get() {
        return None;
    }
    let want = marks.started.get() + 1;
    if marks.wanted.get() < want {
        marks.wanted.set(want);
        marks.demand.notify_one();
    }
    loop {
        // Registered before the check: an answer in between is not missed.
        let done = marks.done.notified();
        if marks.answered.get() >= want {
            return marks.latest.get();
        }
        if !marks.connected.get() {
            return None;
        }
        done.await;
    }
}

/// This worker's marks for this server, starting its connection the first
/// time (on PostgreSQL, while fewer than `MAX_CONNECTIONS` workers have one).
fn worker(service: &Latchkey, batcher: &Batcher) -> Option<Rc<WorkerMarks>> {
    let url = service.checks().postgres_url()?;
    let key = std::ptr::from_ref(batcher) as usize;
    WORKERS.with(|workers| {
        let mut workers = workers.borrow_mut();
        if let Some(marks) = workers.get(&key) {
            return marks.clone();
        }
        if !batcher.take_mark_connection() {
            tracing::info!(
                "over {MAX_CONNECTIONS} workers: this one's token checks on PostgreSQL use the lookup thread only"
            );
            workers.insert(key, None);
            return None;
        }
        let marks = Rc::new(WorkerMarks {
            started: Cell::new(0),
            answered: Cell::new(0),
            wanted: Cell::new(0),
            latest: Cell::new(None),
            connected: Cell::new(false),
            demand: Notify::new(),
            done: Notify::new(),
        });
        workers.insert(key, Some(marks.clone()));
        rt::spawn(run(marks.clone(), url.to_string()));
        Some(marks)
    })
}

/// Connects, then answers demand one query at a time; connects again after
/// a failure. A URL this client cannot use (TLS, an option it does not
/// know) leaves every check to the batch.
async fn run(marks: Rc<WorkerMarks>, url: String) {
    let Some(config) = plain_config(&url) else {
        return;
    };
    let mut warned = false;
    loop {
        let Err(e) = serve_marks(&marks, &config).await;
        if !warned {
            tracing::warn!(error = %e, "a worker's change-mark connection failed; its token checks use the lookup thread meanwhile");
            warned = true;
        }
        rt::time::sleep(RETRY_AFTER).await;
    }
}

/// The URL as this client's configuration, unless it asks for TLS (which
/// this client does not speak: checks then read the database through the
/// pool, as every other query does).
pub(super) fn plain_config(url: &str) -> Option<tokio_postgres::Config> {
    use tokio_postgres::config::SslMode;
    match url.parse::<tokio_postgres::Config>() {
        Ok(config) if matches!(config.get_ssl_mode(), SslMode::Disable | SslMode::Prefer) => {
            Some(config)
        }
        Ok(_) => {
            tracing::info!(
                "token checks on PostgreSQL over TLS read the database through the pool"
            );
            None
        }
        Err(e) => {
            tracing::info!(error = %e, "token checks on PostgreSQL read the database through the pool");
            None
        }
    }
}

/// Answers demand on one connection until it fails.
async fn serve_marks(
    marks: &WorkerMarks,
    config: &tokio_postgres::Config,
) -> Result<std::convert::Infallible, MarkError> {
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    rt::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "a change-mark connection closed");
        }
    });
    let statement = client.prepare(EPOCH).await?;
    marks.connected.set(true);
    let failure = loop {
        while marks.wanted.get() <= marks.answered.get() {
            marks.demand.notified().await;
        }
        // Once round the worker first: requests whose bytes have just
        // arrived join this query instead of waiting for the next.
        tokio::task::yield_now().await;
        let number = marks.started.get() + 1;
        marks.started.set(number);
        let read = rt::time::timeout(QUERY_TIMEOUT, client.query_one(&statement, &[])).await;
        let (mark, failure) = match read {
            Ok(Ok(row)) => (row.try_get::<_, i64>(0).ok(), None),
            Ok(Err(e)) => (None, Some(MarkError::Query(e))),
            Err(_) => (None, Some(MarkError::TimedOut)),
        };
        marks.latest.set(mark.map(ChangeMark::Postgres));
        marks.answered.set(number);
        if let Some(e) = failure {
            break e;
        }
        marks.done.notify_waiters();
    };
    marks.connected.set(false);
    marks.done.notify_waiters();
    Err(failure)
}

#[derive(Debug, thiserror::Error)]
enum MarkError {
    #[error(transparent)]
    Query(#[from] tokio_postgres::Error),
    #[error("an epoch query took over {QUERY_TIMEOUT:?}")]
    TimedOut,
}
