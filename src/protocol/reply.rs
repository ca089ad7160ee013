//! The reply type shared by every command, and its RESP2/RESP3 encoding.
//!
//! One enum covers both protocol versions; each variant's doc says how a
//! RESP2 client sees it. Replies are `Send` so they can come back from
//! another core over the mesh.

use std::borrow::Cow;

use bytes::{BufMut, Bytes};

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`.
    Ok,
    /// A status line, `+<text>`.
    Status(Cow<'static, str>),
    /// An error line, `-<text>`; the text starts with its code (`ERR`, `WRONGTYPE` ...).
    Error(Cow<'static, str>),
    Int(i64),
    Bulk(Bytes),
    /// RESP2 `$-1`, RESP3 `_`.
    Nil,
    /// RESP2 `*-1`, RESP3 `_`.
    NilArray,
    Array(Vec<Reply>),
    /// RESP2: a flat array of key, value, key, value ...
    Map(Vec<(Reply, Reply)>),
    /// Pairs that RESP3 nests as an array of 2-element arrays and RESP2
    /// flattens (HRANDFIELD WITHVALUES, ZRANGE WITHSCORES ...).
    Pairs(Vec<(Reply, Reply)>),
    /// RESP2: an array.
    Set(Vec<Reply>),
    /// RESP2: a bulk string in `%.17g` form.
    Double(f64),
    /// A coordinate as Redis's addReplyHumanLongDouble gives it: `%.17Lf`
    /// without trailing zeros; RESP3 a double, RESP2 a bulk string.
    HumanDouble(f64),
    /// RESP2: the integer 1 or 0.
    Bool(bool),
    /// RESP3 verbatim string `=len\r\ntxt:...`; RESP2: a bulk string.
    Verbatim(Bytes),
    /// Out-of-band push; RESP2: an array.
    Push(Vec<Reply>),
    /// Already-encoded bytes, passed through as they are.
    Raw(Bytes),
    /// Several replies in a row for one command (SUBSCRIBE a b answers
    /// once per channel).
    Seq(Vec<Reply>),
}

impl Reply {
    pub fn error(text: impl Into<Cow<'static, str>>) -> Reply {
        Reply::Error(text.into())
    }

    pub fn status(text: impl Into<Cow<'static, str>>) -> Reply {
        Reply::Status(text.into())
    }

    pub fn bulk(b: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(b.as_ref()))
    }

    pub fn bulk_opt(b: Option<Bytes>) -> Reply {
        b.map_or(Reply::Nil, Reply::Bulk)
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Encodes the reply for a client speaking RESP2 (`resp3 == false`) or RESP3.
    pub fn encode(&self, resp3: bool, out: &mut Vec<u8>) {
        match self {
            Reply::Ok => out.extend_from_slice(b"+OK\r\n"),
            Reply::Status(s) => line(out, b'+', s.as_bytes()),
            Reply::Error(s) => line(out, b'-', s.as_bytes()),
            Reply::Int(n) => int_line(out, b':', *n),
            Reply::Bulk(b) => bulk(out, b),
            Reply::Nil if resp3 => out.extend_from_slice(b"_\r\n"),
            Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
            Reply::NilArray if resp3 => out.extend_from_slice(b"_\r\n"),
            Reply::NilArray => out.extend_from_slice(b"*-1\r\n"),
            Reply::Array(items) => {
                int_line(out, b'*', items.len() as i64);
                items.iter().for_each(|r| r.encode(resp3, out));
            }
            Reply::Set(items) => {
                int_line(out, if resp3 { b'~' } else { b'*' }, items.len() as i64);
                items.iter().for_each(|r| r.encode(resp3, out));
            }
            Reply::Push(items) => {
                int_line(out, if resp3 { b'>' } else { b'*' }, items.len() as i64);
                items.iter().for_each(|r| r.encode(resp3, out));
            }
            Reply::Map(pairs) => {
                if resp3 {
                    int_line(out, b'%', pairs.len() as i64);
                } else {
                    int_line(out, b'*', 2 * pairs.len() as i64);
                }
                for (k, v) in pairs {
                    k.encode(resp3, out);
                    v.encode(resp3, out);
                }
            }
            Reply::Pairs(pairs) => {
                int_line(out, b'*', (pairs.len() * if resp3 { 1 } else { 2 }) as i64);
                for (a, b) in pairs {
                    if resp3 {
                        out.extend_from_slice(b"*2\r\n");
                    }
                    a.encode(resp3, out);
                    b.encode(resp3, out);
                }
            }
            Reply::Double(d) => {
                let s = format_double(*d);
                if resp3 {
                    line(out, b',', s.as_bytes());
                } else {
                    bulk(out, s.as_bytes());
                }
            }
            Reply::HumanDouble(d) => {
                let s = format_human(*d);
                if resp3 {
                    line(out, b',', s.as_bytes());
                } else {
                    bulk(out, s.as_bytes());
                }
            }
            Reply::Bool(b) if resp3 => {
                out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" })
            }
            Reply::Bool(b) => int_line(out, b':', *b as i64),
            Reply::Verbatim(b) if resp3 => {
                int_line(out, b'=', b.len() as i64 + 4);
                out.extend_from_slice(b"txt:");
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Verbatim(b) => bulk(out, b),
            Reply::Raw(b) => out.extend_from_slice(b),
            Reply::Seq(items) => items.iter().for_each(|r| r.encode(resp3, out)),
        }
    }
}

fn line(out: &mut Vec<u8>, prefix: u8, text: &[u8]) {
    out.put_u8(prefix);
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

fn int_line(out: &mut Vec<u8>, prefix: u8, n: i64) {
    out.put_u8(prefix);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    int_line(out, b'$', b.len() as i64);
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

/// Formats like C's `%.17g`, which Redis 7.0 uses for double replies.
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    format_g(d, 17)
}

/// Redis's human long double form (ld2string LD_STR_HUMAN) of a double:
/// 17 decimals, trailing zeros and point dropped, "-0" as "0".
pub fn format_human(d: f64) -> String {
    if !d.is_finite() {
        return format_double(d);
    }
    let s = format!("{d:.17}");
    let t = trim_zeros(&s);
    if t == "-0" {
        "0".into()
    } else {
        t.to_string()
    }
}

/// C's `%.<precision>g`.
pub fn format_g(d: f64, precision: usize) -> String {
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{:.*e}", precision - 1, d);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= precision as i32 {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (precision as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, d)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(r: &Reply, resp3: bool) -> String {
        let mut out = Vec::new();
        r.encode(resp3, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn resp2_and_resp3_forms() {
        assert_eq!(enc(&Reply::Nil, false), "$-1\r\n");
        assert_eq!(enc(&Reply::Nil, true), "_\r\n");
        let m = Reply::Map(vec![(Reply::bulk("a"), Reply::Int(1))]);
        assert_eq!(enc(&m, false), "*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&m, true), "%1\r\n$1\r\na\r\n:1\r\n");
        let p = Reply::Pairs(vec![(Reply::bulk("a"), Reply::Int(1))]);
        assert_eq!(enc(&p, false), "*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&p, true), "*1\r\n*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&Reply::Double(1.5), false), "$3\r\n1.5\r\n");
        assert_eq!(enc(&Reply::Double(1.5), true), ",1.5\r\n");
        assert_eq!(enc(&Reply::Bool(true), false), ":1\r\n");
    }

    #[test]
    fn percent_g17() {
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_g(10.5, 17), "10.5");
    }
}
