//! Periodic work that `serve` runs beside the HTTP server (webhook
//! deliveries, usage flushes), on its own thread, stopped with the server.

use std::cell::Cell;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Lets long work notice that a stop was asked for.
pub struct StopSignal<'a> {
    stopped: &'a Receiver<()>,
    /// The request, once seen: reading it takes it off the channel.
    seen: Cell<bool>,
}

impl StopSignal<'_> {
    pub fn requested(&self) -> bool {
        if !self.seen.get() && !matches!(self.stopped.try_recv(), Err(TryRecvError::Empty)) {
            self.seen.set(true);
        }
        self.seen.get()
    }
}

pub struct Periodic {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Periodic {
    /// Runs `work` now and then every `every`, until `stop`.
    pub fn start<F>(name: &str, every: Duration, mut work: F) -> std::io::Result<Periodic>
    where
        F: FnMut(&StopSignal<'_>) + Send + 'static,
    {
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                loop {
                    let signal = StopSignal {
                        stopped: &stopped,
                        seen: Cell::new(false),
                    };
                    work(&signal);
                    if signal.seen.get() {
                        break;
                    }
                    match stopped.recv_timeout(every) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
            })?;
        Ok(Periodic { stop, thread })
    }

    /// Asks the work to stop and waits for the run in progress to end.
    pub fn stop(self) {
        let Periodic { stop, thread } = self;
        let _ = stop.send(());
        // Closed as well: the thread ends even if the request was consumed.
        drop(stop);
        if thread.join().is_err() {
            tracing::error!("a background task panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    #[test]
    fn a_stop_seen_by_the_work_ends_the_thread() {
        // The work polls for the stop itself, as the webhook sender does
        // between deliveries, and so takes the request off the channel.
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let task = Periodic::start("test-periodic", Duration::from_millis(1), move |stop| {
            counted.fetch_add(1, Ordering::Relaxed);
            let until = Instant::now() + Duration::from_millis(50);
            while Instant::now() < until && !stop.requested() {
                std::thread::sleep(Duration::from_millis(1));
            }
        })
        .expect("start");
        std::thread::sleep(Duration::from_millis(20));
        let asked = Instant::now();
        task.stop();
        assert!(asked.elapsed() < Duration::from_secs(2), "stop hung");
        assert!(runs.load(Ordering::Relaxed) >= 1);
    }

    #[test]
    fn a_stop_between_runs_ends_the_thread() {
        let task = Periodic::start("test-idle", Duration::from_secs(3600), |_| {}).expect("start");
        let asked = Instant::now();
        task.stop();
        assert!(asked.elapsed() < Duration::from_secs(2), "stop hung");
    }
}
