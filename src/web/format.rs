//! How days, moments and durations read in the console: one wording
//! everywhere ("Expires Wed 30 Dec 2026, 00:00 UTC (in 30 days)"), with
//! the reader's local time added by script where a `<time>` carries it.

use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, PrimitiveDateTime};

/// Tokens stopping before the start of this many days from today are
/// "expiring": a token made for 7 days is not flagged the moment it is
/// made (the same rule as `StatusFilter::Expiring`).
pub const SOON_DAYS: i64 = crate::service::EXPIRING_SOON_DAYS as i64;

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// "Wed 30 Dec 2026".
pub fn day(d: Date) -> String {
    let weekday = WEEKDAYS[usize::from(d.weekday().number_days_from_monday())];
    let month = MONTHS[usize::from(u8::from(d.month()) - 1)];
    format!("{weekday} {} {month} {}", d.day(), d.year())
}

/// "30 Dec 2026", where a column is narrow.
pub fn short_day(d: Date) -> String {
    let month = MONTHS[usize::from(u8::from(d.month()) - 1)];
    format!("{} {month} {}", d.day(), d.year())
}

/// "Wed 30 Dec 2026, 00:00 UTC".
pub fn moment(t: PrimitiveDateTime) -> String {
    format!("{}, {:02}:{:02} UTC", day(t.date()), t.hour(), t.minute())
}

/// RFC 3339, for `<time datetime>` (and the script that adds local time).
pub fn machine(t: PrimitiveDateTime) -> String {
    t.assume_utc().format(&Rfc3339).unwrap_or_default()
}

/// RFC 3339 text kept on the stack: the token check writes one on every
/// answer, and allocates nothing for it.
pub struct Rfc3339Text {
    buf: [u8; 40],
    len: usize,
}

impl Rfc3339Text {
    /// `None` only for a moment RFC 3339 cannot write (a year past 9999).
    pub fn of(t: PrimitiveDateTime) -> Option<Rfc3339Text> {
        let mut buf = [0u8; 40];
        let mut cursor = std::io::Cursor::new(&mut buf[..]);
        t.assume_utc().format_into(&mut cursor, &Rfc3339).ok()?;
        let len = usize::try_from(cursor.position()).ok()?;
        Some(Rfc3339Text { buf, len })
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// "in 30 days", "in 6½ days", "in 5 hours", "in 20 minutes": how long
/// until `at`, as precisely as it matters (half days under ten days).
pub fn until(at: PrimitiveDateTime, now: PrimitiveDateTime) -> String {
    let left = at - now;
    if left <= Duration::ZERO {
        return "now".to_owned();
    }
    let minutes = left.whole_minutes();
    if minutes < 1 {
        return "in less than a minute".to_owned();
    }
    if minutes < 60 {
        return plural("in", minutes, "minute");
    }
    let hours = left.whole_hours();
    if hours < 24 {
        // Rounded to the nearest hour.
        let rounded = (left + Duration::minutes(30)).whole_hours().max(1);
        return plural("in", rounded, "hour");
    }
    if left < Duration::days(10) {
        let halves = (left + Duration::hours(6)).whole_hours() / 12;
        let (days, half) = (halves / 2, halves % 2 == 1);
        return match (days, half) {
            (1, false) => "in 1 day".to_owned(),
            (d, false) => format!("in {d} days"),
            (d, true) => format!("in {d}½ days"),
        };
    }
    // Far enough that the hours do not matter: the days of the calendar, as
    // the date was chosen ("30 days" is "in 30 days" all day long).
    plural("in", (at.date() - now.date()).whole_days(), "day")
}

/// "just now", "5 minutes ago", "3 hours ago", "2 days ago", or a day.
pub fn since(t: PrimitiveDateTime, now: PrimitiveDateTime) -> String {
    let secs = (now - t).whole_seconds();
    match secs {
        s if s < 60 => "just now".to_owned(),
        s if s < 3600 => plural("", s / 60, "minute") + " ago",
        s if s < 86_400 => plural("", s / 3600, "hour") + " ago",
        s if s < 30 * 86_400 => plural("", s / 86_400, "day") + " ago",
        _ => format!("on {}", day(t.date())),
    }
}

fn plural(prefix: &str, n: i64, unit: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    if prefix.is_empty() {
        format!("{n} {unit}{s}")
    } else {
        format!("{prefix} {n} {unit}{s}")
    }
}

/// The sentence about a token's end: "Expires Wed 30 Dec 2026, 00:00 UTC
/// (in 30 days)", "Expired … (2 days ago)", or "Never expires".
pub fn expiry(at: Option<PrimitiveDateTime>, now: PrimitiveDateTime) -> String {
    match at {
        None => "Never expires".to_owned(),
        Some(at) if at > now => format!("Expires {} ({})", moment(at), until(at, now)),
        Some(at) => format!("Expired {} ({})", moment(at), since(at, now)),
    }
}

/// Whether an active token stops within the "expiring" window.
pub fn expires_soon(at: Option<PrimitiveDateTime>, now: PrimitiveDateTime) -> bool {
    at.is_some_and(|at| at > now && (at.date() - now.date()) < Duration::days(SOON_DAYS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn rfc3339_on_the_stack_reads_as_the_allocating_one() {
        for t in [
            datetime!(2026-12-01 00:00:00),
            datetime!(2026-12-01 09:30:15.123456789),
            datetime!(9999-12-31 23:59:59.999999999),
        ] {
            let text = Rfc3339Text::of(t).expect("fits");
            assert_eq!(text.as_str(), machine(t));
        }
    }

    #[test]
    fn one_wording() {
        let now = datetime!(2026-11-30 12:00:00);
        assert_eq!(
            expiry(Some(datetime!(2026-12-30 00:00:00)), now),
            "Expires Wed 30 Dec 2026, 00:00 UTC (in 30 days)"
        );
        assert_eq!(
            expiry(Some(datetime!(2026-11-28 00:00:00)), now),
            "Expired Sat 28 Nov 2026, 00:00 UTC (2 days ago)"
        );
        assert_eq!(expiry(None, now), "Never expires");
    }

    #[test]
    fn a_seven_day_token_made_at_noon() {
        let now = datetime!(2026-11-30 12:00:00);
        let at = datetime!(2026-12-07 00:00:00);
        // It stops in six and a half days, and says so; not "expiring" yet.
        assert_eq!(until(at, now), "in 6½ days");
        assert!(!expires_soon(Some(at), now));
        assert!(expires_soon(Some(at), now + Duration::days(1)));
        assert!(!expires_soon(Some(at), at));
    }

    #[test]
    fn durations() {
        let now = datetime!(2026-11-30 12:00:00);
        assert_eq!(until(now + Duration::minutes(20), now), "in 20 minutes");
        assert_eq!(until(now + Duration::minutes(299), now), "in 5 hours");
        assert_eq!(until(now + Duration::hours(36), now), "in 1½ days");
        assert_eq!(until(now + Duration::hours(48), now), "in 2 days");
        assert_eq!(until(now + Duration::days(45), now), "in 45 days");
        assert_eq!(since(now - Duration::days(2), now), "2 days ago");
        assert_eq!(since(now - Duration::seconds(30), now), "just now");
        assert_eq!(
            since(datetime!(2025-01-01 00:00:00), now),
            "on Wed 1 Jan 2025"
        );
    }
}
