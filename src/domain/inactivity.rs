//! Inactivity: tokens unused (or never used) for the policy's number of
//! days are revoked; a notice comes first.

use time::{Duration, PrimitiveDateTime};

/// The policy's bounds, in days.
pub const INACTIVE_DAYS_MIN: u32 = 7;
pub const INACTIVE_DAYS_MAX: u32 = 3650;
/// How long before revocation the notice comes (one idle day at the
/// least, for the shortest policy).
pub const INACTIVE_NOTICE_DAYS: u32 = 7;

/// "Revoke tokens unused for `days` days".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inactivity {
    pub days: u32,
}

impl Inactivity {
    /// A token last active at or before this is due for revocation.
    pub fn cutoff(&self, now: PrimitiveDateTime) -> PrimitiveDateTime {
        now - Duration::days(i64::from(self.days))
    }

    /// A token last active at or before this is "inactive soon".
    pub fn notice_cutoff(&self, now: PrimitiveDateTime) -> PrimitiveDateTime {
        let before = INACTIVE_NOTICE_DAYS.min(self.days.saturating_sub(1));
        now - Duration::days(i64::from(self.days - before))
    }

    /// Whether a token last active at `last_activity` (its last use, or
    /// its creation) is within the notice window.
    pub fn soon(&self, last_activity: PrimitiveDateTime, now: PrimitiveDateTime) -> bool {
        last_activity <= self.notice_cutoff(now)
    }
}

/// The days a policy form or flag gives: empty is off.
pub fn parse_inactive_days(text: &str) -> Result<Option<u32>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<u32>() {
        Ok(days) if (INACTIVE_DAYS_MIN..=INACTIVE_DAYS_MAX).contains(&days) => Ok(Some(days)),
        _ => Err(format!(
            "Revoke unused tokens after {INACTIVE_DAYS_MIN} to {INACTIVE_DAYS_MAX} days, or leave it empty for never."
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_notice_comes_a_week_before_and_at_least_a_day_after_use() {
        let now = datetime!(2026-06-01 12:00);
        let ninety = Inactivity { days: 90 };
        assert_eq!(ninety.cutoff(now), now - Duration::days(90));
        assert!(ninety.soon(now - Duration::days(83), now));
        assert!(!ninety.soon(now - Duration::days(82), now));
        let week = Inactivity { days: 7 };
        assert!(!week.soon(now - Duration::hours(23), now));
        assert!(week.soon(now - Duration::days(1), now));
    }

    #[test]
    fn days_from_a_form() {
        assert_eq!(parse_inactive_days(""), Ok(None));
        assert_eq!(parse_inactive_days(" 90 "), Ok(Some(90)));
        assert!(parse_inactive_days("6").is_err());
        assert!(parse_inactive_days("3651").is_err());
        assert!(parse_inactive_days("ninety").is_err());
        assert!(parse_inactive_days("-7").is_err());
    }
}
