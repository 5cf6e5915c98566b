//! What every normalizer needs besides the bytes: receive time, the configured time zone, and the
//! error type for records that were detected but could not be fully parsed.

use std::borrow::Cow;

use chrono::{
    DateTime, Datelike, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc,
};
use chrono_tz::Tz;

/// Read-only settings shared by the normalizers for one record.
#[derive(Debug, Clone)]
pub struct Context {
    /// When Sluice read the record: `event.created`, and the year for year-less timestamps.
    pub received: DateTime<Utc>,
    /// Zone for timestamps that carry none (RFC 3164, PAN-OS). Default UTC.
    pub timezone: Tz,
    /// The receive year in `timezone`, for `infer_year`: the same for every record of a batch.
    /// With the UTC shortcut in `localize`, a year-less timestamp went from about 670 to 240
    /// instructions (W2).
    year: i32,
}

impl Default for Context {
    fn default() -> Self {
        Context::new(Utc::now(), Tz::UTC)
    }
}

impl Context {
    pub fn new(received: DateTime<Utc>, timezone: Tz) -> Self {
        let year = received.with_timezone(&timezone).year();
        Context {
            received,
            timezone,
            year,
        }
    }

    /// Places a zone-less local time in the configured zone. In a DST gap the time is taken as if
    /// the clock had not jumped; in an overlap the earlier instant wins.
    pub fn localize(&self, naive: NaiveDateTime) -> DateTime<FixedOffset> {
        // The default zone has no transitions to look up (chrono-tz's search cost about 340
        // instructions a time in W2).
        if self.timezone == Tz::UTC {
            return naive.and_utc().fixed_offset();
        }
        match self.timezone.from_local_datetime(&naive) {
            LocalResult::Single(t) => t.fixed_offset(),
            LocalResult::Ambiguous(a, _) => a.fixed_offset(),
            LocalResult::None => {
                let off = self.timezone.offset_from_utc_datetime(&naive);
                let utc = naive - chrono::Duration::seconds(fixed(&off).local_minus_utc() as i64);
                utc.and_utc().with_timezone(&fixed(&off))
            }
        }
    }

    /// A year-less timestamp (`Oct 11 22:14:15`): the receive year, or the year before when that
    /// would put the record more than a day in the future (December logs read in January).
    pub fn infer_year(
        &self,
        month: u32,
        day: u32,
        hour: u32,
        min: u32,
        sec: u32,
        nanos: u32,
    ) -> Option<DateTime<FixedOffset>> {
        let year = self.year;
        let build = |y: i32| {
            NaiveDate::from_ymd_opt(y, month, day)
                .and_then(|d| d.and_hms_nano_opt(hour, min, sec, nanos))
                .map(|n| self.localize(n))
        };
        // 29 February in a non-leap receive year belongs to the last leap year before it.
        let t = build(year).or_else(|| build(year - 1))?;
        if t.with_timezone(&Utc) > self.received + chrono::Duration::days(1) {
            build(year - 1).or(Some(t))
        } else {
            Some(t)
        }
    }
}

fn fixed(off: &<Tz as TimeZone>::Offset) -> FixedOffset {
    use chrono::Offset;
    off.fix()
}

/// Why a detected record could not be fully parsed. The record is still delivered, tagged
/// `_sluice_parse_failure` with this reason in `error.message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseFailure(pub Cow<'static, str>);

impl ParseFailure {
    pub fn new(reason: impl Into<Cow<'static, str>>) -> Self {
        ParseFailure(reason.into())
    }
}

impl std::fmt::Display for ParseFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseFailure {}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(received: &str, tz: Tz) -> Context {
        Context::new(received.parse().unwrap(), tz)
    }

    /// The UTC shortcut gives what chrono-tz gives, including around a leap day and a year end.
    #[test]
    fn utc_shortcut_matches_the_zone_lookup() {
        let c = ctx("2024-06-15T12:00:00Z", Tz::UTC);
        for text in [
            "2024-02-29T23:59:59.999999999",
            "2023-12-31T23:59:60",
            "2025-01-01T00:00:00",
            "1970-01-01T00:00:00.5",
        ] {
            let naive: NaiveDateTime = text.parse().unwrap();
            let slow = match Tz::UTC.from_local_datetime(&naive) {
                LocalResult::Single(t) => t.fixed_offset(),
                other => panic!("{other:?}"),
            };
            let fast = c.localize(naive);
            assert_eq!(fast, slow);
            assert_eq!(fast.offset(), slow.offset());
            assert_eq!(fast.to_rfc3339(), slow.to_rfc3339());
        }
        // The cached receive year is the zone's, not UTC's.
        let c = ctx("2024-12-31T23:30:00Z", chrono_tz::Asia::Tokyo);
        assert_eq!(c.infer_year(1, 1, 9, 0, 0, 0).unwrap().year(), 2025);
    }

    #[test]
    fn year_rolls_back_for_future_dates() {
        let c = ctx("2025-01-02T00:00:00Z", Tz::UTC);
        let t = c.infer_year(12, 31, 23, 59, 0, 0).unwrap();
        assert_eq!(t.to_rfc3339(), "2024-12-31T23:59:00+00:00");
        let t = c.infer_year(1, 1, 10, 0, 0, 0).unwrap();
        assert_eq!(t.year(), 2025);
    }

    #[test]
    fn zone_applies_to_local_times() {
        let c = ctx("2025-07-02T00:00:00Z", chrono_tz::Europe::Paris);
        let t = c.infer_year(7, 1, 12, 0, 0, 0).unwrap();
        assert_eq!(t.to_rfc3339(), "2025-07-01T12:00:00+02:00");
    }

    #[test]
    fn leap_day_in_non_leap_year_goes_back() {
        let c = ctx("2025-03-01T00:00:00Z", Tz::UTC);
        assert_eq!(c.infer_year(2, 29, 0, 0, 0, 0).unwrap().year(), 2024);
    }
}
