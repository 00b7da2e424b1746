//! Expiry dates: a token stops working at 00:00:00 UTC on its date.

use super::{MemberKind, TokenStatus};
use time::macros::format_description;
use time::{Date, Duration, PrimitiveDateTime};

/// The presets the generate form offers, in days.
pub const PRESETS: [u32; 4] = [7, 30, 60, 90];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Never,
    On(Date),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    #[error("Expected a date as YYYY-MM-DD.")]
    Malformed,
    #[error("The expiry date must be in the future (tomorrow, {earliest}, at the earliest).")]
    TooEarly { earliest: Date },
    #[error("The expiry date can be at most {max_days} days ahead ({latest}).")]
    TooLate { max_days: u32, latest: Date },
    #[error("This organisation requires every token to expire.")]
    NeverNotAllowed,
}

/// The organisation's lifetime rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryPolicy {
    pub max_lifetime_days: u32,
    pub allow_no_expiry: bool,
}

impl Default for ExpiryPolicy {
    fn default() -> Self {
        ExpiryPolicy {
            max_lifetime_days: 365,
            allow_no_expiry: false,
        }
    }
}

impl ExpiryPolicy {
    pub fn earliest(&self, today: Date) -> Date {
        today + Duration::days(1)
    }

    pub fn latest(&self, today: Date) -> Date {
        today + Duration::days(i64::from(self.max_lifetime_days))
    }

    pub fn check(&self, today: Date, expiry: Expiry) -> Result<Expiry, ExpiryError> {
        match expiry {
            Expiry::Never if self.allow_no_expiry => Ok(expiry),
            Expiry::Never => Err(ExpiryError::NeverNotAllowed),
            Expiry::On(date) if date < self.earliest(today) => Err(ExpiryError::TooEarly {
                earliest: self.earliest(today),
            }),
            Expiry::On(date) if date > self.latest(today) => Err(ExpiryError::TooLate {
                max_days: self.max_lifetime_days,
                latest: self.latest(today),
            }),
            Expiry::On(_) => Ok(expiry),
        }
    }

    /// The rules for a member of `kind`: service accounts may have a
    /// shorter maximum (`service_max_days`), and then no "never".
    pub fn for_kind(self, kind: MemberKind, service_max_days: Option<u32>) -> ExpiryPolicy {
        match (kind, service_max_days) {
            (MemberKind::Service, Some(days)) => ExpiryPolicy {
                max_lifetime_days: days.min(self.max_lifetime_days),
                allow_no_expiry: false,
            },
            _ => self,
        }
    }

    /// Whether a token made at `created_at` to stop at `expires_at` lives
    /// longer than these rules allow today (applied to existing tokens
    /// when an admin asks).
    pub fn exceeded_by(
        &self,
        created_at: PrimitiveDateTime,
        expires_at: Option<PrimitiveDateTime>,
    ) -> bool {
        match expires_at {
            None => !self.allow_no_expiry,
            Some(at) => at - created_at > Duration::days(i64::from(self.max_lifetime_days)),
        }
    }

    /// The lifetime of a token, in whole days rounded up (`None`: never
    /// expires), for messages.
    pub fn lifetime_days(
        created_at: PrimitiveDateTime,
        expires_at: Option<PrimitiveDateTime>,
    ) -> Option<i64> {
        expires_at.map(|at| {
            let secs = (at - created_at).whole_seconds().max(0);
            (secs + 86_399) / 86_400
        })
    }
}

/// Strict `YYYY-MM-DD`: no time, no zone.
pub fn parse_date(raw: &str) -> Result<Date, ExpiryError> {
    let fmt = format_description!("[year]-[month]-[day]");
    let raw = raw.trim();
    if raw.len() != 10 {
        return Err(ExpiryError::Malformed);
    }
    Date::parse(raw, &fmt).map_err(|_| ExpiryError::Malformed)
}

/// The moment a token with this expiry date stops working.
pub fn expires_at(date: Date) -> PrimitiveDateTime {
    date.midnight()
}

/// Revoked wins over expired.
pub fn status_at(
    revoked: bool,
    expires_at: Option<PrimitiveDateTime>,
    now: PrimitiveDateTime,
) -> TokenStatus {
    if revoked {
        TokenStatus::Revoked
    } else if expires_at.is_some_and(|at| now >= at) {
        TokenStatus::Expired
    } else {
        TokenStatus::Active
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    const TODAY: Date = date!(2026 - 03 - 10);

    #[test]
    fn lifetimes_longer_than_the_maximum_exceed_it() {
        let p = ExpiryPolicy {
            max_lifetime_days: 30,
            allow_no_expiry: false,
        };
        let made = datetime!(2026-03-10 22:00);
        assert!(!p.exceeded_by(made, Some(datetime!(2026-04-09 00:00))));
        assert!(!p.exceeded_by(made, Some(made + Duration::days(30))));
        assert!(p.exceeded_by(made, Some(made + Duration::days(30) + Duration::seconds(1))));
        assert!(p.exceeded_by(made, None));
        let never_ok = ExpiryPolicy {
            allow_no_expiry: true,
            ..p
        };
        assert!(!never_ok.exceeded_by(made, None));
        let service = never_ok.for_kind(MemberKind::Service, Some(7));
        assert_eq!(service.max_lifetime_days, 7);
        assert!(service.exceeded_by(made, None));
        assert_eq!(never_ok.for_kind(MemberKind::Person, Some(7)), never_ok);
        assert_eq!(
            ExpiryPolicy::lifetime_days(made, Some(made + Duration::hours(25))),
            Some(2)
        );
    }

    #[test]
    fn dates_between_tomorrow_and_the_maximum() {
        let p = ExpiryPolicy::default();
        let on = |d: Date| p.check(TODAY, Expiry::On(d));
        assert!(on(date!(2026 - 03 - 11)).is_ok());
        assert!(on(date!(2027 - 03 - 10)).is_ok());
        assert!(matches!(
            on(date!(2026 - 03 - 10)),
            Err(ExpiryError::TooEarly { .. })
        ));
        assert!(matches!(
            on(date!(2027 - 03 - 11)),
            Err(ExpiryError::TooLate { .. })
        ));
        assert!(on(date!(2020 - 01 - 01)).is_err());
        assert_eq!(
            p.check(TODAY, Expiry::Never),
            Err(ExpiryError::NeverNotAllowed)
        );
    }

    #[test]
    fn malformed_dates_are_refused() {
        for bad in [
            "",
            "tomorrow",
            "2026-3-11",
            "11/03/2026",
            "2026-02-30",
            "2026-03-11T00:00:00",
            "2026-03-11Z",
            "2026-03-11 00:00",
            "+2026-03-11",
        ] {
            assert_eq!(parse_date(bad), Err(ExpiryError::Malformed), "{bad}");
        }
    }

    #[test]
    fn never_only_when_allowed() {
        let mut p = ExpiryPolicy::default();
        assert!(p.check(TODAY, Expiry::Never).is_err());
        p.allow_no_expiry = true;
        assert_eq!(p.check(TODAY, Expiry::Never), Ok(Expiry::Never));
    }

    #[test]
    fn stops_at_midnight_utc_and_revoked_wins() {
        let at = expires_at(date!(2026 - 03 - 11));
        assert_eq!(
            status_at(false, Some(at), datetime!(2026-03-10 23:59:59)),
            TokenStatus::Active
        );
        assert_eq!(
            status_at(false, Some(at), datetime!(2026-03-11 00:00:00)),
            TokenStatus::Expired
        );
        assert_eq!(
            status_at(true, Some(at), datetime!(2026-03-10 00:00:00)),
            TokenStatus::Revoked
        );
        assert_eq!(
            status_at(false, None, datetime!(2999-01-01 00:00:00)),
            TokenStatus::Active
        );
    }
}
