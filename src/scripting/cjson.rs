//! The `cjson` library as Redis ships lua-cjson: `encode`, `decode`, `null`,
//! with its defaults (numbers `%.14g`, `/` escaped, sparse arrays refused
//! past ratio 2 and 10 items, nesting limit 1000) and its error texts.

use std::ffi::c_int;

use super::raw::{cfns, ffi, lua_State, push_bytes, set_fn, to_bytes, type_name, Raise, Res};

/// lua-cjson's settings; like the C module's they outlive the script that
/// sets them (one set per core, shared by `cjson.new()` instances). On/off
/// settings are 0/1, `encode_invalid` also 2 ("null").
#[derive(Clone, Copy)]
struct Config {
    sparse_convert: i64,
    sparse_ratio: i64,
    sparse_safe: i64,
    encode_max_depth: i64,
    decode_max_depth: i64,
    precision: i64,
    keep_buffer: i64,
    encode_invalid: i64,
    decode_invalid: i64,
}

const DEFAULT: Config = Config {
    sparse_convert: 0,
    sparse_ratio: 2,
    sparse_safe: 10,
    encode_max_depth: 1000,
    decode_max_depth: 1000,
    precision: 14,
    keep_buffer: 1,
    encode_invalid: 0,
    decode_invalid: 1,
};

thread_local! {
    static CONFIG: std::cell::Cell<Config> = const { std::cell::Cell::new(DEFAULT) };
}

fn cfg() -> Config {
    CONFIG.with(|c| c.get())
}

fn set_cfg(f: impl FnOnce(&mut Config)) {
    CONFIG.with(|c| {
        let mut v = c.get();
        f(&mut v);
        c.set(v);
    });
}

unsafe fn encode(l: *mut lua_State) -> Res {
    if ffi::lua_gettop(l) != 1 {
        return Err(Raise::Arg(1, "encode", "expected 1 argument".into()));
    }
    let mut out = Vec::new();
    encode_value(l, &mut out, 0)?;
    push_bytes(l, &out);
    Ok(1)
}

fn number(out: &mut Vec<u8>, n: f64) -> Result<(), Raise> {
    let c = cfg();
    if !n.is_finite() {
        match c.encode_invalid {
            0 => {
                return Err(Raise::Msg(
                    "Cannot serialise number: must not be NaN or Inf".into(),
                ))
            }
            1 if n.is_nan() => {
                out.extend_from_slice(b"nan");
                return Ok(());
            }
            1 => {}
            _ => {
                out.extend_from_slice(b"null");
                return Ok(());
            }
        }
    }
    out.extend_from_slice(super::raw::format_number(n, c.precision as usize).as_bytes());
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
            if depth as i64 > cfg().encode_max_depth {
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
    let c = cfg();
    let (max_i, items_i) = (max as i64, items as i64);
    if c.sparse_ratio > 0 && max_i > items_i * c.sparse_ratio && max_i > c.sparse_safe {
        if c.sparse_convert == 1 {
            return Ok(None);
        }
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
        let invalid_number = self.invalid_number();
        if c == b'-' || c.is_ascii_digit() {
            if cfg().decode_invalid == 0 && invalid_number {
                return Tok::Error("invalid number");
            }
            return self.number();
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
                if cfg().decode_invalid == 1 && invalid_number {
                    return self.number();
                }
                Tok::Error("invalid token")
            }
        }
    }

    /// lua-cjson's json_is_invalid_number: JSON forbids these, strtod reads them.
    fn invalid_number(&self) -> bool {
        let mut p = &self.s[self.pos..];
        if p.first() == Some(&b'+') {
            return true;
        }
        if p.first() == Some(&b'-') {
            p = &p[1..];
        }
        match p.first() {
            Some(b'0') => p
                .get(1)
                .is_some_and(|&c| (c | 0x20) == b'x' || c.is_ascii_digit()),
            Some(c) if *c <= b'9' => false,
            _ => {
                p.len() >= 3
                    && (p[..3].eq_ignore_ascii_case(b"inf") || p[..3].eq_ignore_ascii_case(b"nan"))
            }
        }
    }

    /// A number as C's strtod reads it: the longest prefix that parses.
    fn number(&mut self) -> Tok {
        match crate::strtod::strtod(&self.s[self.pos..]) {
            Some((n, used)) => {
                self.pos += used;
                Tok::Num(n)
            }
            None => Tok::Error("invalid number"),
        }
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
            if depth as i64 > cfg().decode_max_depth {
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
        return Err(Raise::Arg(1, "decode", "expected 1 argument".into()));
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

/// json_arg_init: at most `n` arguments, padded with nils.
unsafe fn args(l: *mut lua_State, n: c_int, f: &'static str) -> Result<(), Raise> {
    if ffi::lua_gettop(l) > n {
        return Err(Raise::Arg(n + 1, f, "found too many arguments".into()));
    }
    ffi::lua_settop(l, n);
    Ok(())
}

type Field = fn(&mut Config) -> &mut i64;

fn get(field: Field) -> i64 {
    *field(&mut cfg())
}

/// An integer setting in `min..=max`: set from argument `idx` unless nil;
/// pushes the value.
unsafe fn int_option(
    l: *mut lua_State,
    idx: c_int,
    f: &'static str,
    (min, max): (i64, i64),
    field: Field,
) -> Result<(), Raise> {
    if ffi::lua_type(l, idx) != ffi::LUA_TNIL {
        let v = super::raw::check_number(l, idx, f)? as i64;
        if !(min..=max).contains(&v) {
            // lua-cjson names argument 1 whichever it checks.
            return Err(Raise::Arg(
                1,
                f,
                format!("expected integer between {min} and {max}"),
            ));
        }
        set_cfg(|c| *field(c) = v);
    }
    ffi::lua_pushnumber(l, get(field) as f64);
    Ok(())
}

/// An on/off (or named) setting; pushes a boolean, or the option's name.
unsafe fn enum_option(
    l: *mut lua_State,
    idx: c_int,
    f: &'static str,
    names: &[&str],
    field: Field,
) -> Result<(), Raise> {
    match ffi::lua_type(l, idx) {
        ffi::LUA_TNIL => {}
        ffi::LUA_TBOOLEAN => {
            let v = ffi::lua_toboolean(l, idx) as i64;
            set_cfg(|c| *field(c) = v);
        }
        _ => {
            let name = super::raw::to_bytes(l, idx).ok_or_else(|| {
                Raise::Arg(
                    idx,
                    f,
                    format!("string expected, got {}", type_name(l, idx)),
                )
            })?;
            let Some(v) = names.iter().position(|n| n.as_bytes() == name) else {
                return Err(Raise::Arg(
                    idx,
                    f,
                    format!("invalid option '{}'", String::from_utf8_lossy(name)),
                ));
            };
            set_cfg(|c| *field(c) = v as i64);
        }
    }
    match get(field) {
        v @ (0 | 1) => ffi::lua_pushboolean(l, v as c_int),
        v => push_bytes(l, names[v as usize].as_bytes()),
    }
    Ok(())
}

const ON_OFF: &[&str] = &["off", "on"];
const MAX: i64 = i32::MAX as i64;

unsafe fn encode_sparse_array(l: *mut lua_State) -> Res {
    let f = "encode_sparse_array";
    args(l, 3, f)?;
    enum_option(l, 1, f, ON_OFF, |c| &mut c.sparse_convert)?;
    int_option(l, 2, f, (0, MAX), |c| &mut c.sparse_ratio)?;
    int_option(l, 3, f, (0, MAX), |c| &mut c.sparse_safe)?;
    Ok(3)
}

unsafe fn encode_max_depth(l: *mut lua_State) -> Res {
    args(l, 1, "encode_max_depth")?;
    int_option(l, 1, "encode_max_depth", (1, MAX), |c| {
        &mut c.encode_max_depth
    })?;
    Ok(1)
}

unsafe fn decode_max_depth(l: *mut lua_State) -> Res {
    args(l, 1, "decode_max_depth")?;
    int_option(l, 1, "decode_max_depth", (1, MAX), |c| {
        &mut c.decode_max_depth
    })?;
    Ok(1)
}

unsafe fn encode_number_precision(l: *mut lua_State) -> Res {
    let f = "encode_number_precision";
    args(l, 1, f)?;
    int_option(l, 1, f, (1, 14), |c| &mut c.precision)?;
    Ok(1)
}

unsafe fn encode_keep_buffer(l: *mut lua_State) -> Res {
    args(l, 1, "encode_keep_buffer")?;
    enum_option(l, 1, "encode_keep_buffer", ON_OFF, |c| &mut c.keep_buffer)?;
    Ok(1)
}

unsafe fn encode_invalid_numbers(l: *mut lua_State) -> Res {
    let f = "encode_invalid_numbers";
    args(l, 1, f)?;
    enum_option(l, 1, f, &["off", "on", "null"], |c| &mut c.encode_invalid)?;
    Ok(1)
}

unsafe fn decode_invalid_numbers(l: *mut lua_State) -> Res {
    args(l, 1, "decode_invalid_numbers")?;
    enum_option(l, 1, "decode_invalid_numbers", ON_OFF, |c| {
        &mut c.decode_invalid
    })?;
    Ok(1)
}

/// `cjson.new()`: another module table (sharing this core's settings).
unsafe fn new(l: *mut lua_State) -> Res {
    open(l);
    Ok(1)
}

cfns! {
    c_encode => encode, c_decode => decode, c_new => new,
    c_encode_sparse_array => encode_sparse_array,
    c_encode_max_depth => encode_max_depth,
    c_decode_max_depth => decode_max_depth,
    c_encode_number_precision => encode_number_precision,
    c_encode_keep_buffer => encode_keep_buffer,
    c_encode_invalid_numbers => encode_invalid_numbers,
    c_decode_invalid_numbers => decode_invalid_numbers,
}

/// Pushes the `cjson` table.
pub unsafe fn open(l: *mut lua_State) {
    ffi::lua_newtable(l);
    set_fn(l, c"encode", c_encode);
    set_fn(l, c"decode", c_decode);
    set_fn(l, c"new", c_new);
    set_fn(l, c"encode_sparse_array", c_encode_sparse_array);
    set_fn(l, c"encode_max_depth", c_encode_max_depth);
    set_fn(l, c"decode_max_depth", c_decode_max_depth);
    set_fn(l, c"encode_number_precision", c_encode_number_precision);
    set_fn(l, c"encode_keep_buffer", c_encode_keep_buffer);
    set_fn(l, c"encode_invalid_numbers", c_encode_invalid_numbers);
    set_fn(l, c"decode_invalid_numbers", c_decode_invalid_numbers);
    ffi::lua_pushlightuserdata(l, std::ptr::null_mut());
    ffi::lua_setfield(l, -2, c"null".as_ptr());
    push_bytes(l, b"cjson");
    ffi::lua_setfield(l, -2, c"_NAME".as_ptr());
    push_bytes(l, b"2.1.0");
    ffi::lua_setfield(l, -2, c"_VERSION".as_ptr());
}
