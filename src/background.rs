//! Periodic work that `serve` runs beside the HTTP server (webhook
//! deliveries, usage flushes), on its own thread, stopped with the server.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Lets long work notice that a stop was asked for.
pub struct StopSignal<'a>(&'a Receiver<()>);

impl StopSignal<'_> {
    pub fn requested(&self) -> bool {
        !matches!(self.0.try_recv(), Err(TryRecvError::Empty))
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
                    work(&StopSignal(&stopped));
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
        let _ = self.stop.send(());
        if self.thread.join().is_err() {
            tracing::error!("a background task panicked");
        }
    }
}
