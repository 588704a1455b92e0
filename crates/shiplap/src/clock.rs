//! UTC dates without a date library: history timestamps and migration versions
//! (`YYYYMMDDHHMMSS`).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since 1970-01-01 UTC, now.
pub(crate) fn now_seconds() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
}

/// The current time, UTC, as RFC 3339 with milliseconds: `2025-02-24T12:00:00.123Z`.
pub(crate) fn now_rfc3339() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_millis();
    let (year, month, day, hour, minute, second) = parts(now_seconds());
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
}

/// An instant (seconds since 1970-01-01 UTC) as RFC 3339: `2025-02-24T12:00:00.000Z`.
pub(crate) fn rfc3339_at(seconds: i64) -> String {
    let (year, month, day, hour, minute, second) = parts(seconds);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.000Z")
}

/// A migration version for an instant: `YYYYMMDDHHMMSS` in UTC.
#[cfg(feature = "cli")]
pub(crate) fn version_at(seconds: i64) -> i64 {
    let (year, month, day, hour, minute, second) = parts(seconds);
    ((((year * 100 + month) * 100 + day) * 100 + hour) * 100 + minute) * 100 + second
}

/// The instant a `YYYYMMDDHHMMSS` version names, when it is one.
#[cfg(feature = "cli")]
pub(crate) fn seconds_of_version(version: i64) -> Option<i64> {
    let (date, time) = (version / 1_000_000, version % 1_000_000);
    let (year, month, day) = (date / 10_000, date / 100 % 100, date % 100);
    let (hour, minute, second) = (time / 10_000, time / 100 % 100, time % 100);
    let valid = (1970..=9999).contains(&year)
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    // A day that does not exist (31 February) comes back as another date.
    (valid && version_at(seconds) == version).then_some(seconds)
}

/// (year, month, day, hour, minute, second) of an instant, UTC.
fn parts(seconds: i64) -> (i64, i64, i64, i64, i64, i64) {
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    (year, month, day, rest / 3600, rest % 3600 / 60, rest % 60)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's
/// algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The inverse of [`civil_from_days`].
#[cfg_attr(not(feature = "cli"), allow(dead_code))] // also what the tests check
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_from_days_and_back() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_143), (2025, 2, 24));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        for days in [0, 11_016, 20_143, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        let now = now_rfc3339();
        assert_eq!(now.len(), 24, "{now}");
        assert!(now.ends_with('Z'));
    }

    #[test]
    fn versions_are_utc_timestamps() {
        let seconds = seconds_of_version(20250224120000).unwrap();
        assert_eq!(version_at(seconds), 20250224120000);
        assert_eq!(version_at(seconds + 1), 20250224120001);
        // 23:59:59 + 1 s is the next day, and the next year.
        let end_of_year = seconds_of_version(20241231235959).unwrap();
        assert_eq!(version_at(end_of_year + 1), 20250101000000);
        assert_eq!(seconds_of_version(20250231120000), None, "31 February");
        assert_eq!(seconds_of_version(20250101246000), None);
        assert_eq!(seconds_of_version(7), None);
    }
}
