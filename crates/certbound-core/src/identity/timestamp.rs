//! Times as people read them: RFC 3339 in UTC (`2026-12-02T10:15:00Z`), never raw epoch seconds.

use rustls_pki_types::UnixTime;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Seconds since the Unix epoch as RFC 3339 UTC. A value `time` cannot represent (past the
/// year 9999) is shown as "after 9999-12-31T23:59:59Z", which is what it means for a validity date.
pub fn rfc3339(epoch_seconds: u64) -> String {
    i64::try_from(epoch_seconds)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "after 9999-12-31T23:59:59Z".to_owned())
}

/// A [`UnixTime`] as RFC 3339 UTC.
pub fn unix_time(t: UnixTime) -> String {
    rfc3339(t.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_seconds() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_212_800), "2026-12-02T12:00:00Z");
        assert_eq!(rfc3339(u64::MAX), "after 9999-12-31T23:59:59Z");
    }
}
