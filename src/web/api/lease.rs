//! PostgreSQL: the thread that holds this instance's lease
//! (`db::check_leases`). It renews the lease five times a second, and at
//! once when a change is announced, reading the check epoch each time;
//! token checks are then judged at that epoch from memory, with no query
//! per request. When renewals fail, the lease is dropped here before the
//! database lets it run out, and checks read the epoch per batch (`marks`)
//! until it is held again.

use super::marks::plain_config;
use crate::db::check_leases::{LISTEN, REGISTER, RELEASE, RENEW};
use crate::service::{ChangeMark, LEASE, Latchkey, LeasedMark, RENEW_EVERY};
use actix_web::rt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;

/// A statement slower than this counts as a failed renewal.
const QUERY_TIMEOUT: Duration = Duration::from_millis(300);
/// How long to wait before connecting again after a failure.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// What the holder thread is woken by: an announcement, or a stop.
#[derive(Default)]
struct Wake {
    notify: Notify,
    stop: AtomicBool,
}

impl Wake {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// The running holder; stopped with the server (its lease is given up, so
/// no writer waits for an instance that is gone).
pub struct LeaseHolder {
    wake: Arc<Wake>,
    thread: JoinHandle<()>,
}

impl LeaseHolder {
    /// Starts holding a lease; `None` on SQLite, or for a PostgreSQL URL
    /// this client cannot use (TLS): checks then take a mark per batch.
    pub fn start(service: &Latchkey) -> std::io::Result<Option<LeaseHolder>> {
        let Some(url) = service.checks().postgres_url() else {
            return Ok(None);
        };
        let Some(mut config) = plain_config(url) else {
            return Ok(None);
        };
        // Named, for an operator reading `pg_stat_activity`.
        config.application_name("latchkey check lease");
        let service = service.clone();
        let wake = Arc::new(Wake::default());
        let woken = wake.clone();
        let thread = std::thread::Builder::new()
            .name("check-lease".into())
            .spawn(move || match rt::Runtime::new() {
                Ok(runtime) => runtime.block_on(hold(config, rand::random(), service, woken)),
                Err(e) => tracing::warn!(error = %e, "cannot start the check lease"),
            })?;
        Ok(Some(LeaseHolder { wake, thread }))
    }

    /// Gives the lease up and waits for the thread to end.
    pub fn stop(self) {
        self.wake.stop.store(true, Ordering::Release);
        self.wake.notify.notify_one();
        if self.thread.join().is_err() {
            tracing::error!("the check lease thread panicked");
        }
    }
}

/// Holds the lease until stopped, connecting again after each failure.
async fn hold(config: tokio_postgres::Config, id: i64, service: Latchkey, wake: Arc<Wake>) {
    let lease = service.checks().lease().clone();
    let mut warned = false;
    while !wake.stopping() {
        let held = hold_once(&config, id, &lease, &wake, &mut warned).await;
        // Before any new registration says this instance is up to date.
        lease.lost();
        if let Err(e) = held {
            if let LeaseError::Postgres(e) = &e
                && e.is_closed()
            {
                recheck_pool(&service);
            }
            if !warned {
                tracing::warn!(error = %e, "the check lease was lost; token checks read the check epoch per batch meanwhile");
                warned = true;
            }
            let _ = rt::time::timeout(RETRY_AFTER, wake.notify.notified()).await;
        }
    }
}

/// Whether a pool recheck is running (one at a time).
static RECHECKING: AtomicBool = AtomicBool::new(false);

/// A closed connection is often PostgreSQL restarting: the pool's idle
/// connections are tried now (on a thread of their own: a ping may hang
/// as long as the network does), so that checks falling back to the pool
/// are less likely to meet a dead one first.
fn recheck_pool(service: &Latchkey) {
    if RECHECKING.swap(true, Ordering::AcqRel) {
        return;
    }
    let service = service.clone();
    let started = std::thread::Builder::new()
        .name("pool-recheck".into())
        .spawn(move || {
            service.recheck_idle_connections();
            RECHECKING.store(false, Ordering::Release);
        });
    if let Err(e) = started {
        RECHECKING.store(false, Ordering::Release);
        tracing::warn!(error = %e, "cannot recheck the pool's connections");
    }
}

/// One connection's life: listen, register, renew until it fails or a
/// stop is asked (then give the lease up).
async fn hold_once(
    config: &tokio_postgres::Config,
    id: i64,
    lease: &LeasedMark,
    wake: &Arc<Wake>,
    warned: &mut bool,
) -> Result<(), LeaseError> {
    let (client, mut connection) =
        rt::time::timeout(QUERY_TIMEOUT * 10, config.connect(tokio_postgres::NoTls))
            .await
            .map_err(|_| LeaseError::TimedOut)??;
    let announced = wake.clone();
    // Drives the connection; each announcement wakes the renewals.
    rt::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(_)) => announced.notify.notify_one(),
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "the check lease connection closed");
                    break;
                }
            }
        }
        // Renew now: the renewal fails at once and the lease is dropped.
        announced.notify.notify_one();
    });
    let length = micros(LEASE);
    within(client.batch_execute(LISTEN)).await?;
    within(client.execute(REGISTER, &[&id, &length])).await?;
    if std::mem::take(warned) {
        tracing::info!("the check lease is held again");
    }
    let renew = within(client.prepare(RENEW)).await?;
    let mut applied: i64 = 0;
    // After a renewal woken by an announcement, one more at once: it
    // tells the writer that the state read has been applied.
    let mut confirm = false;
    loop {
        if wake.stopping() {
            within(client.execute(RELEASE, &[&id])).await?;
            return Ok(());
        }
        let sent = Instant::now();
        let rows = within(client.query(&renew, &[&id, &length, &applied])).await?;
        let row = rows.first().ok_or(LeaseError::Forgotten)?;
        lease.renewed(ChangeMark::Postgres(row.try_get(0)?), sent);
        applied = row.try_get(1)?;
        if std::mem::take(&mut confirm) {
            continue;
        }
        confirm = rt::time::timeout(RENEW_EVERY, wake.notify.notified())
            .await
            .is_ok();
    }
}

async fn within<T>(
    query: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, LeaseError> {
    Ok(rt::time::timeout(QUERY_TIMEOUT, query)
        .await
        .map_err(|_| LeaseError::TimedOut)??)
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

#[derive(Debug, thiserror::Error)]
enum LeaseError {
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    #[error("a lease statement took over {QUERY_TIMEOUT:?}")]
    TimedOut,
    #[error("the lease was forgotten (this instance was gone for over a minute)")]
    Forgotten,
}
