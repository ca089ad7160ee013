//! Splitting a line into arguments the way Redis does for inline commands
//! and redis.conf lines (sdssplitargs): whitespace separates, "double
//! quotes" take C-like escapes (`\n`, `\xHH`, ...), 'single quotes' take only
//! `\'`. A quote may open in the middle of a word (`a"b c"` is `ab c`); a
//! closing quote must be followed by whitespace or the end of the line. As
//! in C, a NUL byte ends the line.

/// C's `isspace`: what separates arguments.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What ends an unquoted word (sdssplitargs: not vertical tab or form feed,
/// which are separators only before a word).
fn ends_word(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t')
}

/// The words of a line without quotes or NUL, as ranges of it (no copy):
/// what `split_args` returns for such a line. None for any other line.
pub fn plain_words(line: &[u8], words: &mut Vec<std::ops::Range<usize>>) -> Option<()> {
    if memchr::memchr3(b'"', b'\'', 0, line).is_some() {
        return None;
    }
    words.clear();
    let mut i = 0;
    while i < line.len() {
        if is_space(line[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < line.len() && !ends_word(line[i]) {
            i += 1;
        }
        words.push(start..i);
    }
    Some(())
}

/// Returns `None` for unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let line = match memchr::memchr(0, line) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && is_space(line[i]) {
            i += 1;
        }
        if i >= n {
            return Some(args);
        }
        let mut cur = Vec::new();
        let (mut inq, mut insq) = (false, false);
        loop {
            if inq {
                if i >= n {
                    return None;
                }
                match line[i] {
                    b'\\'
                        if i + 3 < n
                            && line[i + 1] == b'x'
                            && line[i + 2].is_ascii_hexdigit()
                            && line[i + 3].is_ascii_hexdigit() =>
                    {
                        cur.push(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                        i += 4;
                    }
                    b'\\' if i + 1 < n => {
                        cur.push(match line[i + 1] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 8,
                            b'a' => 7,
                            c => c,
                        });
                        i += 2;
                    }
                    b'"' => {
                        i += 1;
                        if i < n && !is_space(line[i]) {
                            return None;
                        }
                        break;
                    }
                    c => {
                        cur.push(c);
                        i += 1;
                    }
                }
            } else if insq {
                if i >= n {
                    return None;
                }
                match line[i] {
                    b'\\' if i + 1 < n && line[i + 1] == b'\'' => {
                        cur.push(b'\'');
                        i += 2;
                    }
                    b'\'' => {
                        i += 1;
                        if i < n && !is_space(line[i]) {
                            return None;
                        }
                        break;
                    }
                    c => {
                        cur.push(c);
                        i += 1;
                    }
                }
            } else {
                match line.get(i) {
                    None => break,
                    Some(&c) if ends_word(c) => break,
                    Some(b'"') => inq = true,
                    Some(b'\'') => insq = true,
                    Some(&c) => cur.push(c),
                }
                i += 1;
            }
        }
        args.push(cur);
    }
}

fn hex(c: u8) -> u8 {
    (c as char).to_digit(16).unwrap_or(0) as u8
}

#[cfg(test)]
mod tests {
    use super::split_args;

    fn s(line: &str) -> Option<Vec<String>> {
        split_args(line.as_bytes()).map(|v| {
            v.into_iter()
                .map(|a| String::from_utf8(a).unwrap())
                .collect()
        })
    }

    #[test]
    fn splits_like_sdssplitargs() {
        assert_eq!(s("set a b").unwrap(), ["set", "a", "b"]);
        assert_eq!(s("  set \"a b\" 'c d'  ").unwrap(), ["set", "a b", "c d"]);
        assert_eq!(s(r#""\x41\n""#).unwrap(), ["A\n"]);
        assert_eq!(s(r"'it\'s'").unwrap(), ["it's"]);
        assert_eq!(s("").unwrap(), Vec::<String>::new());
        assert_eq!(s("\"\"").unwrap(), [""]);
    }

    #[test]
    fn unbalanced_quotes() {
        assert!(s("set \"a").is_none());
        assert!(s("set 'a").is_none());
        assert!(s("set \"a\"b").is_none());
        assert!(s("echo a\"b").is_none());
        assert!(s("echo a'b").is_none());
    }

    #[test]
    fn quotes_inside_a_word_like_redis() {
        assert_eq!(s("echo a\"b c\"").unwrap(), ["echo", "ab c"]);
        assert_eq!(s("echo a'b'").unwrap(), ["echo", "ab"]);
        assert_eq!(s("a\x0bb").unwrap(), ["a\x0bb"]);
        assert_eq!(s("\x0b a \x0c").unwrap(), ["a"]);
        assert_eq!(s("set k v\0ignored").unwrap(), ["set", "k", "v"]);
        assert!(s("set \"k\0\"").is_none());
    }
}
