//! Running cycles on a schedule, and stopping cleanly.
//!
//! [`Shutdown`] is the one signal the daemon and the cycle share: SIGINT or SIGTERM triggers
//! it; a cycle in progress notices it at its next safe point (between two pages of a pull, two
//! chunks of a merge, two batches of an apply: each of those is durable on its own), stops
//! there and returns, and the scheduler does not start another. Nothing is ever cut in half.
//!
//! [`every`] runs one cycle at a time: a slow cycle delays the next, never overlaps it; a
//! failing cycle is the caller's to log, and the next tick comes anyway.

use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// A shared stop signal. Clones observe the same signal.
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: std::sync::Arc<watch::Sender<bool>>,
    rx: watch::Receiver<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    pub fn new() -> Self {
        let (tx, rx) = watch::channel(false);
        Shutdown {
            tx: std::sync::Arc::new(tx),
            rx,
        }
    }

    /// Asks everything holding a clone to stop at its next safe point.
    pub fn trigger(&self) {
        let _ = self.tx.send(true);
    }

    pub fn is_requested(&self) -> bool {
        *self.rx.borrow()
    }

    /// Completes once a stop is requested.
    pub async fn requested(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// Triggers on SIGINT (Ctrl-C) or SIGTERM, from a background task; a second signal calls
    /// `on_second` (the command line ends the process there: every step is durable before the
    /// next, so the next cycle resumes what this one was doing, as after a kill).
    pub fn on_signals(&self, on_second: impl FnOnce() + Send + 'static) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut stops = StopSignals::new();
            stops.next().await;
            tracing::info!("stop requested: finishing the batch in flight (again to stop at once)");
            me.trigger();
            stops.next().await;
            on_second();
        });
    }
}

/// SIGINT and SIGTERM, listened to from the start (a signal that comes while the first is
/// handled is not lost).
struct StopSignals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl StopSignals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            StopSignals {
                streams: signal(SignalKind::interrupt())
                    .and_then(|i| Ok((i, signal(SignalKind::terminate())?)))
                    .ok(),
            }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    /// The next SIGINT or SIGTERM.
    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some((interrupt, terminate)) = &mut self.streams {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs `cycle` now and then every `period` (measured from the start of each cycle), one at
/// a time, until `shutdown` is requested. A cycle longer than the period is followed at once
/// by the next; ticks are never stacked up.
pub async fn every<F, Fut>(period: Duration, shutdown: &Shutdown, mut cycle: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        let started = Instant::now();
        cycle().await;
        if shutdown.is_requested() {
            return;
        }
        let next = (started + period).max(Instant::now());
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = shutdown.requested() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn cycles_follow_the_period_and_never_overlap() {
        let shutdown = Shutdown::new();
        let runs = Arc::new(AtomicU32::new(0));
        let in_flight = Arc::new(AtomicU32::new(0));
        let (r, f, s) = (runs.clone(), in_flight.clone(), shutdown.clone());
        let start = Instant::now();
        every(Duration::from_secs(60), &shutdown, move || {
            let (r, f, s) = (r.clone(), f.clone(), s.clone());
            async move {
                assert_eq!(f.fetch_add(1, Ordering::SeqCst), 0, "two cycles at once");
                // A slow cycle: 90 s, longer than the period.
                tokio::time::sleep(Duration::from_secs(90)).await;
                f.fetch_sub(1, Ordering::SeqCst);
                if r.fetch_add(1, Ordering::SeqCst) + 1 == 3 {
                    s.trigger();
                }
            }
        })
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        // Three slow cycles back to back: 270 s, not 3 periods plus waits.
        assert_eq!(start.elapsed(), Duration::from_secs(270));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_while_waiting_ends_at_once() {
        let shutdown = Shutdown::new();
        let s = shutdown.clone();
        let start = Instant::now();
        let runs = Arc::new(AtomicU32::new(0));
        let r = runs.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            s.trigger();
        });
        every(Duration::from_secs(900), &shutdown, move || {
            r.fetch_add(1, Ordering::SeqCst);
            async {}
        })
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }
}
