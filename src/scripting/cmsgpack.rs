//! The `cmsgpack` library (lua-cmsgpack as Redis ships it): `pack(...)`
//! concatenates each argument's MessagePack encoding; `unpack(s)` returns
//! every object in `s`.

use std::ffi::c_int;

use super::raw::{cfns, ffi, lua_State, push_bytes, set_fn, to_bytes, type_name, Raise, Res};

/// Deeper tables are packed as nil.
const MAX_NESTING: usize = 16;

unsafe fn pack(l: *mut lua_State) -> Res {
    let n = ffi::lua_gettop(l);
    if n == 0 {
        return Err(Raise::Arg(
            0,
            "pack",
            "MessagePack pack needs input.".into(),
        ));
    }
    let mut out = Vec::new();
    for i in 1..=n {
        ffi::lua_pushvalue(l, i);
        encode(l, &mut out, 0);
        ffi::lua_settop(l, -2);
    }
    push_bytes(l, &out);
    Ok(1)
}

fn int(out: &mut Vec<u8>, n: i64) {
    match n {
        0..=127 => out.push(n as u8),
        -32..=-1 => out.push(n as i8 as u8),
        128..=0xff => out.extend_from_slice(&[0xcc, n as u8]),
        0x100..=0xffff => {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        0x1_0000_0000.. => {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
        -128..=-33 => out.extend_from_slice(&[0xd0, n as i8 as u8]),
        -32768..=-129 => {
            out.push(0xd1);
            out.extend_from_slice(&(n as i16).to_be_bytes());
        }
        -2147483648..=-32769 => {
            out.push(0xd2);
            out.extend_from_slice(&(n as i32).to_be_bytes());
        }
        _ => {
            out.push(0xd3);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

fn len_prefix(out: &mut Vec<u8>, n: usize, fix: u8, fix_max: usize, codes: [u8; 3]) {
    if n < fix_max {
        out.push(fix | n as u8);
    } else if n <= 0xff && codes[0] != 0 {
        out.extend_from_slice(&[codes[0], n as u8]);
    } else if n <= 0xffff {
        out.push(codes[1]);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(codes[2]);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// Encodes the value on top of the stack (left there).
unsafe fn encode(l: *mut lua_State, out: &mut Vec<u8>, level: usize) {
    match ffi::lua_type(l, -1) {
        ffi::LUA_TSTRING => {
            let s = to_bytes(l, -1).unwrap_or(b"");
            len_prefix(out, s.len(), 0xa0, 32, [0xd9, 0xda, 0xdb]);
            out.extend_from_slice(s);
        }
        ffi::LUA_TBOOLEAN => out.push(if ffi::lua_toboolean(l, -1) != 0 {
            0xc3
        } else {
            0xc2
        }),
        ffi::LUA_TNUMBER => {
            let n = ffi::lua_tonumber(l, -1);
            if n.is_finite() && n == n as i64 as f64 {
                int(out, n as i64);
            } else if n as f32 as f64 == n || n.is_nan() {
                out.push(0xca);
                out.extend_from_slice(&(n as f32).to_be_bytes());
            } else {
                out.push(0xcb);
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
        ffi::LUA_TTABLE if level < MAX_NESTING => {
            ffi::luaL_checkstack(l, 3, std::ptr::null());
            match array_len(l) {
                Some(n) => {
                    len_prefix(out, n, 0x90, 16, [0, 0xdc, 0xdd]);
                    for i in 1..=n {
                        ffi::lua_rawgeti(l, -1, i as ffi::lua_Integer);
                        encode(l, out, level + 1);
                        ffi::lua_settop(l, -2);
                    }
                }
                None => {
                    let mut n = 0;
                    ffi::lua_pushnil(l);
                    while ffi::lua_next(l, -2) != 0 {
                        n += 1;
                        ffi::lua_settop(l, -2);
                    }
                    len_prefix(out, n, 0x80, 16, [0, 0xde, 0xdf]);
                    ffi::lua_pushnil(l);
                    while ffi::lua_next(l, -2) != 0 {
                        ffi::lua_pushvalue(l, -2);
                        encode(l, out, level + 1);
                        ffi::lua_settop(l, -2);
                        encode(l, out, level + 1);
                        ffi::lua_settop(l, -2);
                    }
                }
            }
        }
        _ => out.push(0xc0),
    }
}

/// Some(n) when the keys are exactly 1..n.
unsafe fn array_len(l: *mut lua_State) -> Option<usize> {
    let (mut count, mut max) = (0usize, 0usize);
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, -2) != 0 {
        ffi::lua_settop(l, -2);
        let k = ffi::lua_tonumber(l, -1);
        if ffi::lua_type(l, -1) != ffi::LUA_TNUMBER || k <= 0.0 || k.floor() != k {
            ffi::lua_settop(l, -2);
            return None;
        }
        max = max.max(k as usize);
        count += 1;
    }
    (max == count).then_some(count)
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
    /// Containers open around the object being decoded.
    depth: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Raise> {
        let b = self
            .s
            .get(self.pos..self.pos + n)
            .ok_or_else(|| Raise::Msg("Missing bytes in input.".into()))?;
        self.pos += n;
        Ok(b)
    }

    fn be(&mut self, n: usize) -> Result<u64, Raise> {
        Ok(self.take(n)?.iter().fold(0u64, |v, &b| (v << 8) | b as u64))
    }
}

/// Deeper input is refused (the C library would run out of Lua stack).
const MAX_DECODE_NESTING: usize = 1000;

/// Pushes the next object. The recursion for containers stays in these
/// small frames; [`scalar`] has the big match.
unsafe fn decode(l: *mut lua_State, c: &mut Cursor) -> Result<(), Raise> {
    if c.depth > MAX_DECODE_NESTING || ffi::lua_checkstack(l, 3) == 0 {
        return Err(Raise::Msg("stack overflow (nesting too deep)".into()));
    }
    match scalar(l, c)? {
        Some(Container::Array(n)) => array(l, c, n),
        Some(Container::Map(n)) => map(l, c, n),
        None => Ok(()),
    }
}

enum Container {
    Array(usize),
    Map(usize),
}

/// Pushes a scalar, or says which container starts here.
unsafe fn scalar(l: *mut lua_State, c: &mut Cursor) -> Result<Option<Container>, Raise> {
    let t = c.take(1)?[0];
    match t {
        0x00..=0x7f => ffi::lua_pushnumber(l, t as f64),
        0xe0..=0xff => ffi::lua_pushnumber(l, t as i8 as f64),
        0x80..=0x8f => return Ok(Some(Container::Map((t & 0x0f) as usize))),
        0x90..=0x9f => return Ok(Some(Container::Array((t & 0x0f) as usize))),
        0xa0..=0xbf => push_bytes(l, c.take((t & 0x1f) as usize)?),
        0xc0 => ffi::lua_pushnil(l),
        0xc2 => ffi::lua_pushboolean(l, 0),
        0xc3 => ffi::lua_pushboolean(l, 1),
        0xc4 | 0xd9 => {
            let n = c.be(1)? as usize;
            push_bytes(l, c.take(n)?)
        }
        0xc5 | 0xda => {
            let n = c.be(2)? as usize;
            push_bytes(l, c.take(n)?)
        }
        0xc6 | 0xdb => {
            let n = c.be(4)? as usize;
            push_bytes(l, c.take(n)?)
        }
        0xca => ffi::lua_pushnumber(l, f32::from_bits(c.be(4)? as u32) as f64),
        0xcb => ffi::lua_pushnumber(l, f64::from_bits(c.be(8)?)),
        0xcc => ffi::lua_pushnumber(l, c.be(1)? as f64),
        0xcd => ffi::lua_pushnumber(l, c.be(2)? as f64),
        0xce => ffi::lua_pushnumber(l, c.be(4)? as f64),
        0xcf => ffi::lua_pushnumber(l, c.be(8)? as f64),
        0xd0 => ffi::lua_pushnumber(l, c.be(1)? as u8 as i8 as f64),
        0xd1 => ffi::lua_pushnumber(l, c.be(2)? as u16 as i16 as f64),
        0xd2 => ffi::lua_pushnumber(l, c.be(4)? as u32 as i32 as f64),
        0xd3 => ffi::lua_pushnumber(l, c.be(8)? as i64 as f64),
        0xdc => {
            let n = c.be(2)? as usize;
            return Ok(Some(Container::Array(n)));
        }
        0xdd => {
            let n = c.be(4)? as usize;
            return Ok(Some(Container::Array(n)));
        }
        0xde => {
            let n = c.be(2)? as usize;
            return Ok(Some(Container::Map(n)));
        }
        0xdf => {
            let n = c.be(4)? as usize;
            return Ok(Some(Container::Map(n)));
        }
        _ => return Err(Raise::Msg("Bad data format in input.".into())),
    }
    Ok(None)
}

unsafe fn array(l: *mut lua_State, c: &mut Cursor, n: usize) -> Result<(), Raise> {
    ffi::lua_newtable(l);
    c.depth += 1;
    for i in 1..=n {
        decode(l, c)?;
        ffi::lua_rawseti(l, -2, i as ffi::lua_Integer);
    }
    c.depth -= 1;
    Ok(())
}

unsafe fn map(l: *mut lua_State, c: &mut Cursor, n: usize) -> Result<(), Raise> {
    ffi::lua_newtable(l);
    c.depth += 1;
    for _ in 0..n {
        decode(l, c)?;
        decode(l, c)?;
        if ffi::lua_type(l, -2) == ffi::LUA_TNIL {
            ffi::lua_settop(l, -3);
        } else {
            ffi::lua_rawset(l, -3);
        }
    }
    c.depth -= 1;
    Ok(())
}

/// mp_unpack_full: decodes up to `limit` objects (all when limit and
/// offset are 0) from `offset`; with a limit the next offset (-1 at the end)
/// comes first.
unsafe fn unpack_full(l: *mut lua_State, limit: i64, offset: i64, f: &'static str) -> Res {
    let Some(s) = to_bytes(l, 1) else {
        return Err(Raise::Arg(
            1,
            f,
            format!("string expected, got {}", type_name(l, 1)),
        ));
    };
    let all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        return Err(Raise::Msg(format!(
            "Invalid request to unpack with offset of {offset} and limit of {}.",
            s.len()
        )));
    }
    if offset as usize > s.len() {
        return Err(Raise::Msg(format!(
            "Start offset {offset} greater than input length {}.",
            s.len()
        )));
    }
    let limit = if all { i64::MAX } else { limit };
    let mut c = Cursor {
        s,
        pos: offset as usize,
        depth: 0,
    };
    let mut n: c_int = 0;
    while c.pos < s.len() && (n as i64) < limit {
        decode(l, &mut c)?;
        n += 1;
    }
    if !all {
        ffi::luaL_checkstack(l, 1, std::ptr::null());
        let next = if c.pos == s.len() { -1.0 } else { c.pos as f64 };
        ffi::lua_pushnumber(l, next);
        ffi::lua_insert(l, -(n + 1));
        n += 1;
    }
    Ok(n)
}

unsafe fn unpack(l: *mut lua_State) -> Res {
    unpack_full(l, 0, 0, "unpack")
}

unsafe fn opt_int(l: *mut lua_State, idx: c_int, f: &'static str) -> Result<i64, Raise> {
    if ffi::lua_isnoneornil(l, idx) != 0 {
        return Ok(0);
    }
    Ok(super::raw::check_number(l, idx, f)? as i64)
}

unsafe fn unpack_one(l: *mut lua_State) -> Res {
    let offset = opt_int(l, 2, "unpack_one")?;
    ffi::lua_settop(l, 1);
    unpack_full(l, 1, offset, "unpack_one")
}

unsafe fn unpack_limit(l: *mut lua_State) -> Res {
    let limit = super::raw::check_number(l, 2, "unpack_limit")? as i64;
    let offset = opt_int(l, 3, "unpack_limit")?;
    ffi::lua_settop(l, 1);
    unpack_full(l, limit, offset, "unpack_limit")
}

cfns! {
    c_pack => pack, c_unpack => unpack, c_unpack_one => unpack_one,
    c_unpack_limit => unpack_limit,
}

/// Pushes the `cmsgpack` table.
pub unsafe fn open(l: *mut lua_State) {
    ffi::lua_newtable(l);
    set_fn(l, c"pack", c_pack);
    set_fn(l, c"unpack", c_unpack);
    set_fn(l, c"unpack_one", c_unpack_one);
    set_fn(l, c"unpack_limit", c_unpack_limit);
    for (k, v) in [
        (c"_NAME", "cmsgpack"),
        (c"_VERSION", "lua-cmsgpack 0.4.0"),
        (c"_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo"),
        (c"_DESCRIPTION", "MessagePack C implementation for Lua"),
    ] {
        push_bytes(l, v.as_bytes());
        ffi::lua_setfield(l, -2, k.as_ptr());
    }
}
