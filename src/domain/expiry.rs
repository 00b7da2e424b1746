//! Expiry dates: a token stops working at 00:00:00 UTC on its date.

use super::{FieldError, TokenStatus};
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

    /// Reads the generate form's `expires_in` (`7`, `30`, `60`, `90`,
    /// `custom`, `never`) and `expires_on` fields.
    pub fn from_form(
        &self,
        today: Date,
        expires_in: &str,
        expires_on: &str,
    ) -> Result<Expiry, FieldError> {
        let choice = expires_in.trim();
        // One choice: a date typed beside a preset is a mistake to point
        // out, never a value to drop in silence.
        if choice != "custom" && !expires_on.trim().is_empty() {
            return Err(FieldError::new(
                "expires_on",
                "You typed a date but chose another expiry: choose “On a date” to use the date, or clear it.",
            ));
        }
        let expiry = match choice {
            "custom" if expires_on.trim().is_empty() => {
                return Err(FieldError::new(
                    "expires_on",
                    "Pick the date the token stops working (YYYY-MM-DD), or choose one of the other options.",
                ));
            }
            "custom" => Expiry::On(
                parse_date(expires_on).map_err(|e| FieldError::new("expires_on", e.to_string()))?,
            ),
            "never" => Expiry::Never,
            preset => match preset.parse::<u32>() {
                Ok(days) if PRESETS.contains(&days) => {
                    Expiry::On(today + Duration::days(i64::from(days)))
                }
                _ => {
                    return Err(FieldError::new(
                        "expires_in",
                        "Choose 7, 30, 60 or 90 days, or a date.",
                    ));
                }
            },
        };
        self.check(today, expiry).map_err(|e| {
            let field = match (expires_in.trim(), &e) {
                ("custom", _) => "expires_on",
                _ => "expires_in",
            };
            FieldError::new(field, e.to_string())
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
    fn presets_count_from_today() {
        let p = ExpiryPolicy::default();
        assert_eq!(
            p.from_form(TODAY, "30", ""),
            Ok(Expiry::On(date!(2026 - 04 - 09)))
        );
        assert!(p.from_form(TODAY, "45", "").is_err());
        assert!(p.from_form(TODAY, "", "").is_err());
    }

    #[test]
    fn custom_dates_between_tomorrow_and_the_maximum() {
        let p = ExpiryPolicy::default();
        assert!(p.from_form(TODAY, "custom", "2026-03-11").is_ok());
        assert!(p.from_form(TODAY, "custom", "2027-03-10").is_ok());
        let today = p.from_form(TODAY, "custom", "2026-03-10");
        assert_eq!(today.map_err(|e| e.field), Err("expires_on"));
        assert!(p.from_form(TODAY, "custom", "2027-03-11").is_err());
        assert!(p.from_form(TODAY, "custom", "2020-01-01").is_err());
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
        assert!(p.from_form(TODAY, "never", "").is_err());
        p.allow_no_expiry = true;
        assert_eq!(p.from_form(TODAY, "never", ""), Ok(Expiry::Never));
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
