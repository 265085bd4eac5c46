//! Leader lease bookkeeping for `read=lease`.
//!
//! A lease starts at the moment (monotonic `Instant`) a ReadIndex round was
//! *started* by the leader, once a quorum has acknowledged that round's
//! heartbeat. Followers that acknowledged will not vote for another candidate
//! for an election timeout (raft-rs with `check_quorum`), so no other leader
//! can exist before `start + election timeout`. The lease is shorter than that
//! by one tick and a drift margin (`--lease-drift`, a fraction of the election
//! timeout), to absorb clock-rate differences between nodes.
//!
//! With `--unsafe-lease-ignore-drift` the lease is two election timeouts long
//! and has no margin, so a deposed (partitioned, paused or slow-clocked)
//! leader keeps serving reads after a new leader has been elected.
//!
//! In the safe configuration a backward jump of the monotonic clock (which
//! libfaketime produces when its offset is lowered) voids the lease.
//!
//! A leadership transfer forces an election that bypasses the followers'
//! lease check, so the lease is disabled for the rest of the term once a
//! transfer has been requested.

use std::time::{Duration, Instant};

use crate::config::Config;

/// The leader's current lease.
#[derive(Debug, Clone)]
pub struct Lease {
    length: Duration,
    /// (valid until, term it was granted in)
    until: Option<(Instant, u64)>,
    /// A term in which leases are not granted (a transfer was requested).
    disabled_term: Option<u64>,
    /// Latest `Instant` seen; the monotonic clock going backwards (libfaketime
    /// offset change) voids the lease.
    last_seen: Option<Instant>,
    /// Check for backward clock jumps (off with `--unsafe-lease-ignore-drift`).
    guard_backward: bool,
}

impl Lease {
    /// The lease length for a configuration.
    pub fn length_for(cfg: &Config) -> Duration {
        let et = cfg.election_timeout();
        if cfg.unsafe_flags.lease_ignore_drift {
            return et * 2;
        }
        let base = et.saturating_sub(cfg.tick);
        base.mul_f64(1.0 - cfg.lease_drift)
    }

    pub fn new(length: Duration, guard_backward: bool) -> Lease {
        Lease { length, until: None, disabled_term: None, last_seen: None, guard_backward }
    }

    /// Notes the current time; a backward jump voids the lease.
    fn observe(&mut self, now: Instant) {
        if !self.guard_backward {
            return;
        }
        if let Some(seen) = self.last_seen {
            if now < seen {
                self.until = None;
            }
        }
        self.last_seen = Some(self.last_seen.map_or(now, |s| s.max(now)));
    }

    pub fn length(&self) -> Duration {
        self.length
    }

    /// A quorum acknowledged a round started at `started` in `term`.
    pub fn extend(&mut self, started: Instant, term: u64) {
        self.observe(Instant::now());
        if self.disabled_term == Some(term) {
            return;
        }
        let until = started + self.length;
        match self.until {
            Some((u, t)) if t == term && u >= until => {}
            _ => self.until = Some((until, term)),
        }
    }

    /// No lease for the rest of `term`.
    pub fn disable_for_term(&mut self, term: u64) {
        self.disabled_term = Some(term);
        self.until = None;
    }

    /// Forget the lease (leadership lost).
    pub fn clear(&mut self) {
        self.until = None;
    }

    /// Whether the lease is valid at `now` for a leader of `term`.
    pub fn valid_at(&mut self, now: Instant, term: u64) -> bool {
        self.observe(now);
        matches!(self.until, Some((u, t)) if t == term && now < u)
    }

    /// Time left on the lease, if any.
    pub fn remaining(&self, now: Instant, term: u64) -> Option<Duration> {
        match self.until {
            Some((u, t)) if t == term && now < u => Some(u - now),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_rules() {
        let mut l = Lease::new(Duration::from_millis(100), false);
        let t0 = Instant::now();
        assert!(!l.valid_at(t0, 1));
        l.extend(t0, 1);
        assert!(l.valid_at(t0 + Duration::from_millis(50), 1));
        assert!(!l.valid_at(t0 + Duration::from_millis(100), 1));
        assert!(!l.valid_at(t0, 2));
        // An older round does not shorten the lease.
        l.extend(t0 - Duration::from_millis(50), 1);
        assert!(l.valid_at(t0 + Duration::from_millis(90), 1));
        l.disable_for_term(1);
        l.extend(t0, 1);
        assert!(!l.valid_at(t0, 1));
        l.extend(t0, 2);
        assert!(l.valid_at(t0, 2));
    }
}
