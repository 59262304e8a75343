//! Logging of refused connections that a flood of them cannot turn into a flood of log lines.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// At most one warning per this interval; the refusals in between are counted in the next one.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Counts connections refused for one reason and warns at most once per [`WARN_EVERY`], with
/// the number refused since the previous warning; each refusal is also logged at debug level.
#[derive(Debug)]
pub(crate) struct Refusals {
    reason: &'static str,
    since_warning: u64,
    warned: Option<Instant>,
}

impl Refusals {
    pub(crate) const fn new(reason: &'static str) -> Self {
        Self {
            reason,
            since_warning: 0,
            warned: None,
        }
    }

    /// Records a connection from `from` refused at `now`; returns whether that warned.
    pub(crate) fn refused(&mut self, now: Instant, from: SocketAddr) -> bool {
        self.since_warning += 1;
        let due = self
            .warned
            .is_none_or(|t| now.saturating_duration_since(t) >= WARN_EVERY);
        if due {
            tracing::warn!(
                %from,
                refused = self.since_warning,
                "{}; closing (refused counts those since the last warning)",
                self.reason
            );
            self.since_warning = 0;
            self.warned = Some(now);
        } else {
            tracing::debug!(%from, "{}; closing", self.reason);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_refusals_warns_once_per_interval() {
        let mut r = Refusals::new("too many connections");
        let from: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        let t0 = Instant::now();
        let warnings = (0..10_000u64)
            .filter(|i| r.refused(t0 + Duration::from_millis(i / 10), from))
            .count();
        // 10 000 refusals over 1 s: the first warns, the rest wait for the interval.
        assert_eq!(warnings, 1);
        assert_eq!(r.since_warning, 9_999);
        assert!(r.refused(t0 + WARN_EVERY, from));
        assert_eq!(r.since_warning, 0);
        assert!(!r.refused(t0 + WARN_EVERY + Duration::from_secs(1), from));
    }
}
