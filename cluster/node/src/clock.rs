//! Timeouts that keep working while libfaketime moves the clock.
//!
//! The harness skews node clocks with libfaketime, which also fakes
//! `CLOCK_MONOTONIC`: an offset change makes `Instant::now()` jump (even
//! backwards) and a rate change makes it run fast or slow. tokio's timer wheel
//! never moves backwards, so after a backward jump every new tokio timer would
//! fire at once (request timeouts, connect timeouts and backoffs all expiring
//! immediately) until the faked clock caught up again.
//!
//! This module is a coarse clock driven by *relative* sleeps instead: one
//! thread calls `std::thread::sleep` (`nanosleep`, which libfaketime scales by
//! the rate but never shifts by the offset) and advances a counter. Timeouts
//! wait on that counter, so offset jumps do not disturb them and a rate change
//! speeds them up or slows them down like any other timer of the process.
//! The raft tick thread uses the same kind of relative sleep.
//!
//! Leases deliberately do *not* use this clock: they need wall time that
//! includes pauses (`SIGSTOP`), i.e. the monotonic `Instant` (see `lease`).

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::watch;

/// Resolution of the coarse clock.
const GRAIN: Duration = Duration::from_millis(10);

static CLOCK: OnceLock<watch::Sender<u64>> = OnceLock::new();

fn clock() -> &'static watch::Sender<u64> {
    CLOCK.get_or_init(|| {
        std::thread::Builder::new()
            .name("coarse-clock".into())
            .spawn(|| loop {
                std::thread::sleep(GRAIN);
                if let Some(tx) = CLOCK.get() {
                    tx.send_modify(|t| *t += GRAIN.as_millis() as u64);
                }
            })
            .expect("spawn clock thread");
        watch::channel(0).0
    })
}

/// Milliseconds elapsed on the coarse clock since it started.
pub fn now_ms() -> u64 {
    *clock().borrow()
}

/// A point in coarse time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(u64);

impl Deadline {
    /// `d` from now.
    pub fn after(d: Duration) -> Deadline {
        Deadline(now_ms() + d.as_millis() as u64)
    }
}

/// The deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// Waits until the coarse clock reaches `d`.
pub async fn sleep_until(d: Deadline) {
    let mut rx = clock().subscribe();
    let _ = rx.wait_for(|t| *t >= d.0).await;
}

/// Sleeps for `d` of coarse time.
pub async fn sleep(d: Duration) {
    sleep_until(Deadline::after(d)).await
}

/// Runs `f` until `deadline`.
pub async fn timeout_at<F: Future>(deadline: Deadline, f: F) -> Result<F::Output, Elapsed> {
    tokio::select! {
        r = f => Ok(r),
        _ = sleep_until(deadline) => Err(Elapsed),
    }
}

/// Runs `f` for at most `d`.
pub async fn timeout<F: Future>(d: Duration, f: F) -> Result<F::Output, Elapsed> {
    timeout_at(Deadline::after(d), f).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_fire() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let t0 = std::time::Instant::now();
            assert_eq!(timeout(Duration::from_millis(50), std::future::pending::<()>()).await, Err(Elapsed));
            assert!(t0.elapsed() >= Duration::from_millis(40));
            assert_eq!(timeout(Duration::from_secs(5), async { 7 }).await, Ok(7));
            sleep(Duration::from_millis(20)).await;
        });
    }
}
