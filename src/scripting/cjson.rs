//! The `cjson` library as Redis ships lua-cjson: `encode`, `decode`, `null`,
//! with its defaults (numbers `%.14g`, `/` escaped, sparse arrays refused
//! past ratio 2 and 10 items, nesting limit 1000) and its error texts.

use std::ffi::c_int;

use super::raw::{cfns, ffi, lua_State, push_bytes, set_fn, to_bytes, type_name, Raise, Res};
use crate::protocol::reply::format_g;

const MAX_DEPTH: usize = 1000;

unsafe fn encode(l: *mut lua_State) -> Res {
    if ffi::lua_gettop(l) != 1 {
        return Err(Raise::Msg("expected 1 argument".into()));
    }
    let mut out = Vec::new();
    encode_value(l, &mut out, 0)?;
    push_bytes(l, &out);
    Ok(1)
}

fn number(out: &mut Vec<u8>, n: f64) -> Result<(), Raise> {
    if !n.is_finite() {
        return Err(Raise::Msg(
            "Cannot serialise number: must not be NaN or Inf".into(),
        ));
    }
    out.extend_from_slice(format_g(n, 14).as_bytes());
    Ok(())
}

fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

/// Encodes the value on top of the stack (left there).
unsafe fn encode_value(l: *mut lua_State, out: &mut Vec<u8>, depth: usize) -> Result<(), Raise> {
    match ffi::lua_type(l, -1) {
        ffi::LUA_TSTRING => string(out, to_bytes(l, -1).unwrap_or(b"")),
        ffi::LUA_TNUMBER => number(out, ffi::lua_tonumber(l, -1))?,
        ffi::LUA_TBOOLEAN => out.extend_from_slice(if ffi::lua_toboolean(l, -1) != 0 {
            b"true"
        } else {
            b"false"
        }),
        ffi::LUA_TNIL => out.extend_from_slice(b"null"),
        ffi::LUA_TLIGHTUSERDATA if ffi::lua_touserdata(l, -1).is_null() => {
            out.extend_from_slice(b"null")
        }
        ffi::LUA_TTABLE => {
            let depth = depth + 1;
            if depth > MAX_DEPTH {
                return Err(Raise::Msg(format!(
                    "Cannot serialise, excessive nesting ({depth})"
                )));
            }
            ffi::luaL_checkstack(l, 4, std::ptr::null());
            match array_length(l)? {
                Some(n) if n > 0 => {
                    out.push(b'[');
                    for i in 1..=n {
                        if i > 1 {
                            out.push(b',');
                        }
                        ffi::lua_rawgeti(l, -1, i as ffi::lua_Integer);
                        encode_value(l, out, depth)?;
                        ffi::lua_settop(l, -2);
                    }
                    out.push(b']');
                }
                _ => encode_object(l, out, depth)?,
            }
        }
        _ => {
            return Err(Raise::Msg(format!(
                "Cannot serialise {}: type not supported",
                type_name(l, -1)
            )))
        }
    }
    Ok(())
}

/// lua-cjson's array test: Some(max index) when every key is a positive
/// integer; too sparse an array is an error.
unsafe fn array_length(l: *mut lua_State) -> Result<Option<usize>, Raise> {
    let (mut max, mut items) = (0usize, 0usize);
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, -2) != 0 {
        let k = ffi::lua_tonumber(l, -2);
        if ffi::lua_type(l, -2) != ffi::LUA_TNUMBER || k < 1.0 || k.floor() != k {
            ffi::lua_settop(l, -3);
            return Ok(None);
        }
        max = max.max(k as usize);
        items += 1;
        ffi::lua_settop(l, -2);
    }
    if max > items * 2 && max > 10 {
        return Err(Raise::Msg(
            "Cannot serialise table: excessively sparse array".into(),
        ));
    }
    Ok(Some(max))
}

unsafe fn encode_object(l: *mut lua_State, out: &mut Vec<u8>, depth: usize) -> Result<(), Raise> {
    out.push(b'{');
    let mut first = true;
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, -2) != 0 {
        if !first {
            out.push(b',');
        }
        first = false;
        match ffi::lua_type(l, -2) {
            ffi::LUA_TSTRING => string(out, to_bytes(l, -2).unwrap_or(b"")),
            ffi::LUA_TNUMBER => {
                out.push(b'"');
                number(out, ffi::lua_tonumber(l, -2))?;
                out.push(b'"');
            }
            _ => {
                return Err(Raise::Msg(format!(
                    "Cannot serialise {}: table key must be a number or string",
                    type_name(l, -2)
                )))
            }
        }
        out.push(b':');
        encode_value(l, out, depth)?;
        ffi::lua_settop(l, -2);
    }
    out.push(b'}');
    Ok(())
}

/// lua-cjson's tokens, named as its errors name them.
#[derive(Clone, Copy, PartialEq)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Num(f64),
    Bool(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Tok {
    fn name(self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Str => "T_STRING",
            Tok::Num(_) => "T_NUMBER",
            Tok::Bool(_) => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Error(e) => e,
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    /// Position of the current token (for messages, 1-based when shown).
    at: usize,
    /// The text of the last string token.
    text: Vec<u8>,
}

impl Parser<'_> {
    fn next(&mut self) -> Tok {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        self.at = self.pos;
        let Some(&c) = self.s.get(self.pos) else {
            return Tok::End;
        };
        let single = match c {
            b'{' => Some(Tok::ObjBegin),
            b'}' => Some(Tok::ObjEnd),
            b'[' => Some(Tok::ArrBegin),
            b']' => Some(Tok::ArrEnd),
            b':' => Some(Tok::Colon),
            b',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(t) = single {
            self.pos += 1;
            return t;
        }
        match c {
            b'"' => {
                let t = self.string();
                if matches!(t, Tok::Error(_)) {
                    // String errors point where the string went wrong.
                    self.at = self.pos;
                }
                t
            }
            b'-' | b'0'..=b'9' => self.number(),
            _ => {
                for (word, tok) in [
                    (&b"true"[..], Tok::Bool(true)),
                    (b"false", Tok::Bool(false)),
                    (b"null", Tok::Null),
                ] {
                    if self.s[self.pos..].starts_with(word) {
                        self.pos += word.len();
                        return tok;
                    }
                }
                Tok::Error("invalid token")
            }
        }
    }

    fn number(&mut self) -> Tok {
        let start = self.pos;
        while self.pos < self.s.len()
            && matches!(
                self.s[self.pos],
                b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'
            )
        {
            self.pos += 1;
        }
        std::str::from_utf8(&self.s[start..self.pos])
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
            .map_or(Tok::Error("invalid number"), Tok::Num)
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.pos..self.pos + 4)?;
        let v = u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
        self.pos += 4;
        Some(v)
    }

    fn string(&mut self) -> Tok {
        self.pos += 1;
        self.text.clear();
        loop {
            let Some(&c) = self.s.get(self.pos) else {
                return Tok::Error("unexpected end of string");
            };
            self.pos += 1;
            match c {
                b'"' => return Tok::Str,
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos) else {
                        return Tok::Error("unexpected end of string");
                    };
                    self.pos += 1;
                    let ch = match e {
                        b'"' | b'\\' | b'/' => e,
                        b'b' => 8,
                        b'f' => 12,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            let Some(cp) = self.unicode() else {
                                return Tok::Error("invalid unicode escape code");
                            };
                            let mut buf = [0u8; 4];
                            self.text
                                .extend_from_slice(cp.encode_utf8(&mut buf).as_bytes());
                            continue;
                        }
                        _ => return Tok::Error("invalid escape code"),
                    };
                    self.text.push(ch);
                }
                _ => self.text.push(c),
            }
        }
    }

    /// `\uXXXX`, with a following low surrogate for a high one.
    fn unicode(&mut self) -> Option<char> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) {
            if self.s.get(self.pos..self.pos + 2)? != b"\\u" {
                return None;
            }
            self.pos += 2;
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return None;
            }
            return char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00));
        }
        char::from_u32(hi)
    }

    fn expected(&self, what: &str, found: Tok) -> Raise {
        Raise::Msg(format!(
            "Expected {what} but found {} at character {}",
            found.name(),
            self.at + 1
        ))
    }
}

/// Pushes the value starting with token `t`.
unsafe fn decode_value(
    l: *mut lua_State,
    p: &mut Parser,
    t: Tok,
    depth: usize,
) -> Result<(), Raise> {
    ffi::luaL_checkstack(l, 3, std::ptr::null());
    match t {
        Tok::Str => push_bytes(l, &p.text),
        Tok::Num(n) => ffi::lua_pushnumber(l, n),
        Tok::Bool(b) => ffi::lua_pushboolean(l, b as c_int),
        Tok::Null => ffi::lua_pushlightuserdata(l, std::ptr::null_mut()),
        Tok::ObjBegin | Tok::ArrBegin => {
            let depth = depth + 1;
            if depth > MAX_DEPTH {
                return Err(Raise::Msg(format!(
                    "Found too many nested data structures ({depth}) at character {}",
                    p.at + 1
                )));
            }
            ffi::lua_newtable(l);
            if t == Tok::ObjBegin {
                decode_object(l, p, depth)?;
            } else {
                decode_array(l, p, depth)?;
            }
        }
        other => return Err(p.expected("value", other)),
    }
    Ok(())
}

unsafe fn decode_object(l: *mut lua_State, p: &mut Parser, depth: usize) -> Result<(), Raise> {
    let mut t = p.next();
    if t == Tok::ObjEnd {
        return Ok(());
    }
    loop {
        if t != Tok::Str {
            return Err(p.expected("object key string", t));
        }
        push_bytes(l, &p.text);
        let colon = p.next();
        if colon != Tok::Colon {
            return Err(p.expected("colon", colon));
        }
        let v = p.next();
        decode_value(l, p, v, depth)?;
        ffi::lua_rawset(l, -3);
        match p.next() {
            Tok::ObjEnd => return Ok(()),
            Tok::Comma => t = p.next(),
            other => return Err(p.expected("comma or object end", other)),
        }
    }
}

unsafe fn decode_array(l: *mut lua_State, p: &mut Parser, depth: usize) -> Result<(), Raise> {
    let mut t = p.next();
    if t == Tok::ArrEnd {
        return Ok(());
    }
    for i in 1.. {
        decode_value(l, p, t, depth)?;
        ffi::lua_rawseti(l, -2, i);
        match p.next() {
            Tok::ArrEnd => return Ok(()),
            Tok::Comma => t = p.next(),
            other => return Err(p.expected("comma or array end", other)),
        }
    }
    Ok(())
}

unsafe fn decode(l: *mut lua_State) -> Res {
    if ffi::lua_gettop(l) != 1 {
        return Err(Raise::Msg("expected 1 argument".into()));
    }
    let Some(s) = to_bytes(l, 1) else {
        return Err(Raise::Arg(
            1,
            "decode",
            format!("string expected, got {}", type_name(l, 1)),
        ));
    };
    let mut p = Parser {
        s,
        pos: 0,
        at: 0,
        text: Vec::new(),
    };
    let t = p.next();
    decode_value(l, &mut p, t, 0)?;
    let end = p.next();
    if end != Tok::End {
        return Err(p.expected("the end", end));
    }
    Ok(1)
}

cfns! { c_encode => encode, c_decode => decode }

/// Pushes the `cjson` table.
pub unsafe fn open(l: *mut lua_State) {
    ffi::lua_newtable(l);
    set_fn(l, c"encode", c_encode);
    set_fn(l, c"decode", c_decode);
    ffi::lua_pushlightuserdata(l, std::ptr::null_mut());
    ffi::lua_setfield(l, -2, c"null".as_ptr());
    push_bytes(l, b"cjson");
    ffi::lua_setfield(l, -2, c"_NAME".as_ptr());
}
