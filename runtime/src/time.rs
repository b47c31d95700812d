//! The clock: the one place the request path reads the time.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Today's date in Beijing time, `yyyy-MM-dd`.
pub fn beijing_today() -> String {
    let mut stamp = zhifu_signing::time::beijing_timestamp(unix_now());
    stamp.truncate(10);
    stamp
}
