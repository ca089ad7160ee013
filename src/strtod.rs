//! C's `strtod` as Redis's parsers see it, for the places where Redis
//! reads a number with it (lua-cjson, SORT scores, DEBUG SLEEP): the
//! longest numeric prefix, hex integers and inf/nan included.

/// strtod: sign, then hex (`0x`), `inf`/`infinity`/`nan`, or a decimal with
/// optional fraction and exponent. Returns the value and the bytes used.
pub fn strtod(s: &[u8]) -> Option<(f64, usize)> {
    let mut i = 0;
    let neg = match s.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let sign = if neg { -1.0 } else { 1.0 };
    let rest = &s[i..];
    let starts = |w: &[u8]| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w);
    if starts(b"infinity") {
        return Some((sign * f64::INFINITY, i + 8));
    }
    if starts(b"inf") {
        return Some((sign * f64::INFINITY, i + 3));
    }
    if starts(b"nan") {
        return Some((f64::NAN, i + 3));
    }
    if starts(b"0x") {
        let digits = rest[2..]
            .iter()
            .take_while(|c| c.is_ascii_hexdigit())
            .count();
        if digits > 0 {
            let v = rest[2..2 + digits].iter().fold(0.0, |v, &c| {
                v * 16.0 + (c as char).to_digit(16).unwrap_or(0) as f64
            });
            return Some((sign * v, i + 2 + digits));
        }
    }
    let digits = |from: usize| s[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let int = digits(i);
    let mut end = i + int;
    let mut frac = 0;
    if s.get(end) == Some(&b'.') {
        frac = digits(end + 1);
        if int + frac > 0 {
            end += 1 + frac;
        }
    }
    if int + frac == 0 {
        return None;
    }
    if matches!(s.get(end), Some(b'e' | b'E')) {
        let mut j = end + 1;
        if matches!(s.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let exp = digits(j);
        if exp > 0 {
            end = j + exp;
        }
    }
    let text = std::str::from_utf8(&s[..end]).ok()?;
    Some((text.parse::<f64>().ok()?, end))
}

/// The longest numeric prefix after leading whitespace, 0 when there is
/// none or it is not finite (how Redis reads DEBUG SLEEP's seconds).
pub fn prefix_or_zero(b: &[u8]) -> f64 {
    strtod(b.trim_ascii_start())
        .map(|(v, _)| v)
        .filter(|v| v.is_finite())
        .unwrap_or(0.0)
}

/// A whole string as Redis's SORT reads a score: `strtod` up to the first
/// NUL (C strings end there) must use every byte and neither overflow nor
/// underflow (ERANGE) nor give NaN. The empty string reads as 0 (strtod
/// stops at once, and what follows is the terminator).
pub fn whole(b: &[u8]) -> Option<f64> {
    let b = &b[..memchr::memchr(0, b).unwrap_or(b.len())];
    if b.is_empty() {
        return Some(0.0);
    }
    let lead = b.len() - b.trim_ascii_start().len();
    let (v, used) = strtod(&b[lead..])?;
    if lead + used != b.len() || v.is_nan() {
        return None;
    }
    let text = &b[lead..lead + used];
    // inf/infinity are the only forms with an 'i'; any other infinity or
    // a zero from nonzero digits is out of range.
    let literal_inf = text.iter().any(|c| c.eq_ignore_ascii_case(&b'i'));
    let overflow = v.is_infinite() && !literal_inf;
    let underflow = (v == 0.0 || v.is_subnormal()) && mantissa_nonzero(text);
    (!overflow && !underflow).then_some(v)
}

/// Whether the mantissa (the digits after any `0x`, before any decimal
/// exponent) holds a nonzero digit.
fn mantissa_nonzero(text: &[u8]) -> bool {
    let digits = match text.iter().position(|c| matches!(c, b'x' | b'X')) {
        Some(x) => &text[x + 1..],
        None => text
            .split(|c| matches!(c, b'e' | b'E'))
            .next()
            .unwrap_or(text),
    };
    digits.iter().any(|c| c.is_ascii_hexdigit() && *c != b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_strings_as_sort_reads_them() {
        assert_eq!(whole(b"1.5"), Some(1.5));
        assert_eq!(whole(b"  -2"), Some(-2.0));
        assert_eq!(whole(b""), Some(0.0));
        assert_eq!(whole(b"0x10"), Some(16.0));
        assert_eq!(whole(b"inf"), Some(f64::INFINITY));
        assert_eq!(whole(b"-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(whole(b"1\0abc"), Some(1.0));
        assert_eq!(whole(b"0"), Some(0.0));
        assert_eq!(whole(b"0e5"), Some(0.0));
        assert_eq!(whole(b"1e400"), None);
        assert_eq!(whole(b"1e-400"), None);
        assert_eq!(whole(b"nan"), None);
        assert_eq!(whole(b"1 "), None);
        assert_eq!(whole(b"   "), None);
        assert_eq!(whole(b"abc"), None);
    }

    #[test]
    fn prefixes() {
        assert_eq!(prefix_or_zero(b"0.5"), 0.5);
        assert_eq!(prefix_or_zero(b" 2abc"), 2.0);
        assert_eq!(prefix_or_zero(b"1.5abc"), 1.5);
        assert_eq!(prefix_or_zero(b"abc"), 0.0);
        assert_eq!(prefix_or_zero(b"inf"), 0.0);
    }
}
