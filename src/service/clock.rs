use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

/// The service's notion of "now" (UTC). Tests move it forward instead of
/// sleeping; in production the offset stays zero.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_secs: Arc<AtomicI64>,
}

impl Clock {
    /// Now in UTC, truncated to microseconds (what both databases keep).
    pub fn now(&self) -> PrimitiveDateTime {
        let offset = Duration::seconds(self.offset_secs.load(Ordering::Relaxed));
        let t = OffsetDateTime::now_utc() + offset;
        let t = t
            .replace_nanosecond(t.nanosecond() / 1000 * 1000)
            .unwrap_or(t);
        PrimitiveDateTime::new(t.date(), t.time())
    }

    pub fn today(&self) -> time::Date {
        self.now().date()
    }

    pub fn advance(&self, by: Duration) {
        self.offset_secs
            .fetch_add(by.whole_seconds(), Ordering::Relaxed);
    }
}
