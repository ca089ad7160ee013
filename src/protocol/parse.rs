//! Incremental request parser: RESP multibulk and inline commands.
//!
//! The parser reads straight out of the connection's read buffer and keeps
//! its place between reads, so a command that arrives in many TCP segments
//! is scanned once. A complete command is returned as the ranges of its
//! arguments plus the number of bytes it used; the connection turns those
//! into `Bytes` slices of the frozen buffer (no copy per argument).
//!
//! "Need more bytes" (`Ok(None)`) is kept apart from malformed input
//! (`Err(ProtocolError)`), whose texts are Redis's own.

use std::ops::Range;

use super::inline::{plain_words, split_args};

/// Longest inline request or count line Redis accepts before complaining.
pub const INLINE_MAX: usize = 64 * 1024;
/// Multibulk count above which Redis refuses the request.
pub const MULTIBULK_MAX: i64 = i32::MAX as i64;
/// Before AUTH, Redis caps requests at this many arguments ...
pub const UNAUTH_MULTIBULK_MAX: i64 = 10;
/// ... and arguments at this many bytes.
pub const UNAUTH_BULK_MAX: i64 = 16384;

/// A malformed request. The text is sent as `-ERR <text>` and the
/// connection is closed after the reply. It is bytes, not a String, because
/// "expected '$', got 'X'" names a raw client byte, as Redis sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub Vec<u8>);

impl ProtocolError {
    fn new(s: &str) -> Self {
        ProtocolError(format!("Protocol error: {s}").into_bytes())
    }

    /// Redis sends the byte raw, except CR and LF, which become spaces
    /// (its error replies are one line). A NUL never gets here: it hides
    /// the line end (see `read_line`).
    fn expected_dollar(got: u8) -> Self {
        let got = if got == b'\r' || got == b'\n' {
            b' '
        } else {
            got
        };
        let mut text = b"Protocol error: expected '$', got '".to_vec();
        text.extend_from_slice(&[got, b'\'']);
        ProtocolError(text)
    }

    /// Printable form for the log.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

/// What one complete command looks like to the caller.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The bytes the command used; its argument ranges (into the buffer
    /// given to `parse`) are [`RequestParser::args`] until the next call.
    Args(usize),
    /// Inline arguments (they may contain unescaped bytes, so they are owned).
    Inline(Vec<Vec<u8>>, usize),
    /// An empty line or `*0`: consume these bytes and go on.
    Empty(usize),
}

/// Per-connection limits the parser enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bulk: i64,
    pub authenticated: bool,
}

/// Resumable parse state for the command at the front of the buffer.
#[derive(Debug, Default)]
pub struct RequestParser {
    /// Arguments still expected in the current multibulk (None: not started).
    remaining: Option<usize>,
    args: Vec<Range<usize>>,
    /// Where scanning resumes, relative to the start of the command.
    pos: usize,
    /// Length of the bulk whose header was read and whose body is pending.
    bulk: Option<usize>,
}

impl RequestParser {
    /// Bytes the parser knows it still needs (to size the next read).
    pub fn pending_bulk(&self) -> usize {
        self.bulk.map(|n| n + 2).unwrap_or(0)
    }

    /// Parse the command at the start of `buf`.
    pub fn parse(&mut self, buf: &[u8], limits: Limits) -> Result<Option<Parsed>, ProtocolError> {
        if buf.is_empty() {
            return Ok(None);
        }
        if self.remaining.is_none() && buf[0] != b'*' {
            return self.parse_inline(buf);
        }
        if self.remaining.is_none() {
            let Some((line, next)) = read_line(buf, 0) else {
                if buf.len() > INLINE_MAX {
                    return Err(ProtocolError::new("too big mbulk count string"));
                }
                return Ok(None);
            };
            let n = match parse_i64(&buf[1..line.end]) {
                Some(n) if n <= MULTIBULK_MAX => n,
                _ => return Err(ProtocolError::new("invalid multibulk length")),
            };
            if n > UNAUTH_MULTIBULK_MAX && !limits.authenticated {
                return Err(ProtocolError::new("unauthenticated multibulk length"));
            }
            if n <= 0 {
                return Ok(Some(Parsed::Empty(next)));
            }
            self.remaining = Some(n as usize);
            self.args.clear();
            // Do not trust the count for the allocation: cap it.
            self.args.reserve((n as usize).min(1024));
            self.pos = next;
        }
        while self.remaining != Some(0) {
            let len = match self.bulk {
                Some(len) => len,
                None => {
                    if self.pos >= buf.len() {
                        return Ok(None);
                    }
                    // As Redis: the whole header line first, then its '$'.
                    let Some((line, next)) = read_line(buf, self.pos) else {
                        if buf.len() - self.pos > INLINE_MAX {
                            self.reset();
                            return Err(ProtocolError::new("too big bulk count string"));
                        }
                        return Ok(None);
                    };
                    if buf[self.pos] != b'$' {
                        let got = buf[self.pos];
                        self.reset();
                        return Err(ProtocolError::expected_dollar(got));
                    }
                    let n = parse_i64(&buf[line.start + 1..line.end]);
                    let n = match n {
                        Some(n) if n >= 0 && n <= limits.max_bulk => n,
                        _ => {
                            self.reset();
                            return Err(ProtocolError::new("invalid bulk length"));
                        }
                    };
                    if n > UNAUTH_BULK_MAX && !limits.authenticated {
                        self.reset();
                        return Err(ProtocolError::new("unauthenticated bulk length"));
                    }
                    self.pos = next;
                    self.bulk = Some(n as usize);
                    n as usize
                }
            };
            // Like Redis, the two bytes after the body are skipped unchecked.
            if buf.len() < self.pos + len + 2 {
                return Ok(None);
            }
            self.args.push(self.pos..self.pos + len);
            self.pos += len + 2;
            self.bulk = None;
            self.remaining = self.remaining.map(|r| r - 1);
        }
        let used = self.pos;
        // The ranges stay for `args`; the next command clears them.
        self.remaining = None;
        self.pos = 0;
        self.bulk = None;
        Ok(Some(Parsed::Args(used)))
    }

    /// The argument ranges of the command the last `parse` completed.
    pub fn args(&self) -> &[Range<usize>] {
        &self.args
    }

    fn reset(&mut self) {
        self.remaining = None;
        self.args.clear();
        self.pos = 0;
        self.bulk = None;
    }
}

/// Finds the line that starts at `start`: its range up to the `\r`, and
/// where the next line starts. `None` while it is incomplete: Redis needs
/// one byte after the `\r` (unchecked), and it searches with `strchr`, so a
/// NUL byte before the `\r` hides it.
fn read_line(buf: &[u8], start: usize) -> Option<(Range<usize>, usize)> {
    let end = start + find_before_nul(b'\r', &buf[start.min(buf.len())..])?;
    if end + 1 >= buf.len() {
        return None;
    }
    Some((start..end, end + 2))
}

/// Position of `c` in `s`, unless a NUL byte comes first (C `strchr` on
/// Redis's query buffer).
fn find_before_nul(c: u8, s: &[u8]) -> Option<usize> {
    // Header lines ("$3", "*2") are a few bytes: a plain scan finds their
    // end before a vectorized search would have set up.
    const SHORT: usize = 16;
    for (i, &b) in s.iter().take(SHORT).enumerate() {
        if b == c {
            return Some(i);
        }
        if b == 0 {
            return None;
        }
    }
    let rest = s.get(SHORT..)?;
    let i = memchr::memchr2(c, 0, rest)?;
    (rest[i] == c).then_some(SHORT + i)
}

/// Strict decimal parse, as Redis's string2ll (no '+', no spaces, no "-0").
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

impl RequestParser {
    /// An inline command: a line of arguments. Without quotes (and so
    /// without escapes) its words are ranges of the buffer, as a
    /// multibulk's are, and no argument is copied.
    fn parse_inline(&mut self, buf: &[u8]) -> Result<Option<Parsed>, ProtocolError> {
        let Some(nl) = find_before_nul(b'\n', buf) else {
            if buf.len() > INLINE_MAX {
                return Err(ProtocolError::new("too big inline request"));
            }
            return Ok(None);
        };
        let mut line = &buf[..nl];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        if plain_words(line, &mut self.args).is_some() {
            return Ok(Some(if self.args.is_empty() {
                Parsed::Empty(nl + 1)
            } else {
                Parsed::Args(nl + 1)
            }));
        }
        match split_args(line) {
            Some(args) if args.is_empty() => Ok(Some(Parsed::Empty(nl + 1))),
            Some(args) => Ok(Some(Parsed::Inline(args, nl + 1))),
            None => Err(ProtocolError::new("unbalanced quotes in request")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        max_bulk: 512 * 1024 * 1024,
        authenticated: true,
    };

    fn one(input: &[u8]) -> Result<Option<Parsed>, ProtocolError> {
        RequestParser::default().parse(input, L)
    }

    #[test]
    fn multibulk_complete_and_partial() {
        let req = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        let mut p = RequestParser::default();
        assert_eq!(p.parse(req, L).unwrap(), Some(Parsed::Args(req.len())));
        assert_eq!(p.args(), [8..11, 17..18]);
        let mut p = RequestParser::default();
        for cut in 1..req.len() {
            assert_eq!(p.parse(&req[..cut], L).unwrap(), None, "cut {cut}");
        }
        assert!(matches!(p.parse(req, L).unwrap(), Some(Parsed::Args(..))));
    }

    #[test]
    fn line_ends_are_found_near_and_far_and_hidden_by_nul() {
        for at in [0, 3, 15, 16, 17, 100] {
            let mut line = vec![b'x'; at];
            line.extend_from_slice(b"\r\n");
            assert_eq!(find_before_nul(b'\r', &line), Some(at), "at {at}");
            if at > 0 {
                line[at / 2] = 0;
                assert_eq!(find_before_nul(b'\r', &line), None, "NUL before {at}");
            }
        }
        assert_eq!(find_before_nul(b'\r', &[b'x'; 40]), None);
    }

    #[test]
    fn errors_match_redis() {
        let e = |b: &[u8]| one(b).unwrap_err().text();
        assert_eq!(e(b"*x\r\n"), "Protocol error: invalid multibulk length");
        assert_eq!(e(b"*1\r\n+a\r\n"), "Protocol error: expected '$', got '+'");
        // The byte after an unchecked bulk terminator: LF shows as a space.
        assert_eq!(
            e(b"*2\r\n$4\r\nE CHO\r\n$5\r\nhell"),
            "Protocol error: expected '$', got ' '"
        );
        assert_eq!(one(b"*1\r\n\xff\r\n").unwrap_err().0.last(), Some(&b'\''));
        // A NUL hides the line end from Redis's strchr: it waits.
        assert_eq!(one(b"*1\r\n\0\r\n").unwrap(), None);
        assert_eq!(one(b"GET a\0b\r\n").unwrap(), None);
        // The header line must be complete before its '$' is checked.
        assert_eq!(one(b"*1\r\nfoo").unwrap(), None);
        assert_eq!(e(b"*1\r\n$-1\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(e(b"*1\r\n$abc\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(
            e(b"set \"a\n"),
            "Protocol error: unbalanced quotes in request"
        );
        let big = vec![b'a'; INLINE_MAX + 1];
        assert_eq!(e(&big), "Protocol error: too big inline request");
        let mut big = b"*".to_vec();
        big.extend(vec![b'1'; INLINE_MAX + 1]);
        assert_eq!(e(&big), "Protocol error: too big mbulk count string");
    }

    #[test]
    fn bulk_limit_at_edge() {
        let lim = Limits {
            max_bulk: 3,
            authenticated: true,
        };
        let ok = b"*1\r\n$3\r\nabc\r\n";
        assert!(RequestParser::default().parse(ok, lim).unwrap().is_some());
        let bad = b"*1\r\n$4\r\nabcd\r\n";
        assert!(RequestParser::default().parse(bad, lim).is_err());
    }

    #[test]
    fn unauthenticated_limits() {
        let lim = Limits {
            max_bulk: 1 << 29,
            authenticated: false,
        };
        let e = RequestParser::default().parse(b"*11\r\n", lim).unwrap_err();
        assert_eq!(e.text(), "Protocol error: unauthenticated multibulk length");
        let e = RequestParser::default()
            .parse(b"*1\r\n$16385\r\n", lim)
            .unwrap_err();
        assert_eq!(e.text(), "Protocol error: unauthenticated bulk length");
    }

    #[test]
    fn inline_and_empty() {
        assert_eq!(one(b"\r\n").unwrap(), Some(Parsed::Empty(2)));
        assert_eq!(one(b"*0\r\n").unwrap(), Some(Parsed::Empty(4)));
        assert_eq!(one(b"PING\r\n").unwrap(), Some(Parsed::Args(6)));
        assert_eq!(one(b" \x0b\r\n").unwrap(), Some(Parsed::Empty(4)));
        assert_eq!(
            one(b"SET k 'a b'\r\n").unwrap(),
            Some(Parsed::Inline(
                vec![b"SET".to_vec(), b"k".to_vec(), b"a b".to_vec()],
                13
            ))
        );
    }

    /// An inline line without quotes is split in place, word for word as
    /// `split_args` splits it.
    #[test]
    fn inline_in_place_splits_like_split_args() {
        for line in [
            &b"set a b"[..],
            b"  set  a\tb  ",
            b"a\x0bb c",
            b"\x0b a \x0c",
            b"get k\r",
            b"incr counter:1",
        ] {
            let mut buf = line.to_vec();
            buf.push(b'\n');
            let mut p = RequestParser::default();
            assert_eq!(p.parse(&buf, L).unwrap(), Some(Parsed::Args(buf.len())));
            let got: Vec<&[u8]> = p.args().iter().map(|r| &buf[r.clone()]).collect();
            let trimmed = line.strip_suffix(b"\r").unwrap_or(line);
            let want = split_args(trimmed).unwrap();
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn integers_strict() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"01"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b"-0"), None);
    }
}
