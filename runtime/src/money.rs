//! Amounts: Ping++ uses integer fen, Alipay decimal yuan strings. Conversions are exact (no floats).

/// Smallest Alipay amount, in fen (¥0.01).
pub const ALIPAY_MIN_FEN: i64 = 1;
/// Largest Alipay amount, in fen (¥100,000,000.00).
pub const ALIPAY_MAX_FEN: i64 = 10_000_000_000;

/// `"15.5"` / `"15.50"` / `"15"` → `1550`. At most two decimals, no sign, no exponent; `None` otherwise.
pub fn fen_from_yuan(text: &str) -> Option<i64> {
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    if whole.is_empty()
        || whole.len() > 12
        || frac.len() > 2
        || (text.contains('.') && frac.is_empty())
    {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    whole.checked_mul(100)?.checked_add(frac)
}

/// `1550` → `"¥15.50"`.
pub fn yuan_from_fen(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}¥{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(fen_from_yuan("15.50"), Some(1550));
        assert_eq!(fen_from_yuan("15.5"), Some(1550));
        assert_eq!(fen_from_yuan("15"), Some(1500));
        assert_eq!(fen_from_yuan("0.01"), Some(1));
        assert_eq!(fen_from_yuan("100000000"), Some(ALIPAY_MAX_FEN));
        for bad in ["", ".5", "5.", "1.005", "-1", "1e3", "1,00", " 1", "abc"] {
            assert_eq!(fen_from_yuan(bad), None, "{bad}");
        }
        assert_eq!(yuan_from_fen(1550), "¥15.50");
        assert_eq!(yuan_from_fen(5), "¥0.05");
        assert_eq!(yuan_from_fen(-100), "-¥1.00");
    }
}
