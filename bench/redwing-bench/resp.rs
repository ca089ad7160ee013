//! A reply scanner: finds where one complete RESP2/RESP3 reply ends without
//! building it, and says whether it is an error. The load generator only
//! needs to count replies and read error texts (MOVED/ASK), so this is much
//! cheaper than parsing into values.

/// One complete reply at the front of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Scanned {
    /// Bytes it takes.
    pub len: usize,
    pub kind: Kind,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    Value,
    /// `-` or `!` at the top: the error text (without the type byte and CRLF).
    Error(std::ops::Range<usize>),
    /// RESP3 `>` push: out of band, answers no request.
    Push,
}

/// Scans one reply at the start of `buf`; `Ok(None)` if it is not complete yet.
pub fn scan(buf: &[u8]) -> Result<Option<Scanned>, String> {
    let mut pos = 0;
    // Values still to read; aggregates add their elements.
    let mut need: i64 = 1;
    let mut kind = Kind::Value;
    let mut top = true;
    while need > 0 {
        let Some(eol) = memchr::memchr(b'\n', &buf[pos..]) else {
            return Ok(None);
        };
        let line_end = pos + eol + 1;
        if eol < 2 || buf[line_end - 2] != b'\r' {
            return Err(format!(
                "protocol error: bad line {:?}",
                String::from_utf8_lossy(&buf[pos..line_end])
            ));
        }
        let t = buf[pos];
        let body = &buf[pos + 1..line_end - 2];
        need -= 1;
        match t {
            b'+' | b':' | b',' | b'#' | b'_' | b'(' => {}
            b'-' => {
                if top {
                    kind = Kind::Error(pos + 1..line_end - 2);
                }
            }
            b'$' | b'!' | b'=' => {
                let n = number(body)?;
                if n >= 0 {
                    let end = line_end + n as usize + 2;
                    if buf.len() < end {
                        return Ok(None);
                    }
                    if top && t == b'!' {
                        kind = Kind::Error(line_end..end - 2);
                    }
                    pos = end;
                    top = false;
                    continue;
                }
            }
            b'*' | b'~' | b'>' => {
                let n = number(body)?;
                if top && t == b'>' {
                    kind = Kind::Push;
                }
                need += n.max(0);
            }
            b'%' => need += 2 * number(body)?.max(0),
            // Attributes precede the value they describe.
            b'|' => need += 2 * number(body)? + 1,
            _ => return Err(format!("protocol error: unexpected byte {:?}", t as char)),
        }
        pos = line_end;
        top = false;
    }
    Ok(Some(Scanned { len: pos, kind }))
}

fn number(b: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "protocol error: bad length {:?}",
                String::from_utf8_lossy(b)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(b: &[u8]) -> Option<Scanned> {
        scan(b).unwrap()
    }

    #[test]
    fn scans_replies() {
        assert_eq!(one(b"+OK\r\n").unwrap().len, 5);
        assert_eq!(one(b"$3\r\nabc\r\n+x").unwrap().len, 9);
        assert_eq!(one(b"$-1\r\n").unwrap().len, 5);
        assert!(one(b"$3\r\nab").is_none());
        assert!(one(b"*2\r\n:1\r\n").is_none());
        assert_eq!(one(b"*2\r\n:1\r\n*1\r\n$1\r\na\r\n").unwrap().len, 19);
        assert_eq!(one(b"%1\r\n+a\r\n:1\r\n").unwrap().len, 12);
        assert_eq!(one(b"|1\r\n+a\r\n+b\r\n:7\r\n").unwrap().len, 16);
        let e = one(b"-MOVED 1 h:1\r\n").unwrap();
        assert_eq!(e.kind, Kind::Error(1..12));
        assert_eq!(one(b">2\r\n+a\r\n+b\r\n").unwrap().kind, Kind::Push);
        assert_eq!(one(b"*1\r\n-ERR x\r\n").unwrap().kind, Kind::Value);
        assert!(scan(b"?\r\n").is_err());
    }
}
