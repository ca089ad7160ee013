//! Reply <-> Lua value conversions, Redis 7.0's rules (script_lua.c).

use std::ffi::c_int;

use bytes::Bytes;

use super::raw::{error_text, ffi, lua_State, push_bytes, push_error_table, to_bytes};
use crate::protocol::reply::format_double;
use crate::protocol::Reply;

/// Pushes a command's reply as the script sees it; `resp3` is the protocol
/// the script selected (RESP2 view: nil -> false, map -> flat array ...).
pub unsafe fn push_reply(l: *mut lua_State, r: &Reply, resp3: bool) {
    ffi::luaL_checkstack(l, 4, std::ptr::null());
    match r {
        Reply::Ok => push_single(l, c"ok", b"OK"),
        Reply::Status(s) => push_single(l, c"ok", s.as_bytes()),
        Reply::Error(e) => {
            push_error_table(l, &error_text(&format!("-{e}")));
            ffi::lua_pushboolean(l, 1);
            ffi::lua_setfield(l, -2, c"ignore_error_stats_update".as_ptr());
        }
        Reply::Int(n) => ffi::lua_pushnumber(l, *n as f64),
        Reply::Bulk(b) => push_bytes(l, b),
        Reply::Nil | Reply::NilArray if resp3 => ffi::lua_pushnil(l),
        Reply::Nil | Reply::NilArray => ffi::lua_pushboolean(l, 0),
        // Seq only comes from SUBSCRIBE-like commands, which scripts may not call.
        Reply::Array(items) | Reply::Push(items) | Reply::Seq(items) => {
            push_array(l, items.iter(), resp3)
        }
        Reply::Set(items) if resp3 => {
            ffi::lua_createtable(l, 0, 1);
            ffi::lua_createtable(l, 0, items.len() as c_int);
            for it in items {
                push_reply(l, it, resp3);
                ffi::lua_pushboolean(l, 1);
                ffi::lua_settable(l, -3);
            }
            ffi::lua_setfield(l, -2, c"set".as_ptr());
        }
        Reply::Set(items) => push_array(l, items.iter(), resp3),
        Reply::Map(pairs) if resp3 => {
            ffi::lua_createtable(l, 0, 1);
            ffi::lua_createtable(l, 0, pairs.len() as c_int);
            for (k, v) in pairs {
                push_reply(l, k, resp3);
                push_reply(l, v, resp3);
                ffi::lua_settable(l, -3);
            }
            ffi::lua_setfield(l, -2, c"map".as_ptr());
        }
        Reply::Map(pairs) => push_array(l, pairs.iter().flat_map(|(k, v)| [k, v]), resp3),
        Reply::Pairs(pairs) if resp3 => {
            ffi::lua_createtable(l, pairs.len() as c_int, 0);
            for (i, (a, b)) in pairs.iter().enumerate() {
                push_array(l, [a, b].into_iter(), resp3);
                ffi::lua_rawseti(l, -2, i as ffi::lua_Integer + 1);
            }
        }
        Reply::Pairs(pairs) => push_array(l, pairs.iter().flat_map(|(k, v)| [k, v]), resp3),
        Reply::Double(d) | Reply::HumanDouble(d) if resp3 => {
            ffi::lua_createtable(l, 0, 1);
            ffi::lua_pushnumber(l, *d);
            ffi::lua_setfield(l, -2, c"double".as_ptr());
        }
        Reply::Double(d) => push_bytes(l, format_double(*d).as_bytes()),
        Reply::HumanDouble(d) => push_bytes(l, crate::protocol::reply::format_human(*d).as_bytes()),
        Reply::Bool(b) if resp3 => ffi::lua_pushboolean(l, *b as c_int),
        Reply::Bool(b) => ffi::lua_pushnumber(l, *b as i32 as f64),
        Reply::Verbatim(s) if resp3 => {
            ffi::lua_createtable(l, 0, 1);
            ffi::lua_createtable(l, 0, 2);
            push_bytes(l, s);
            ffi::lua_setfield(l, -2, c"string".as_ptr());
            push_bytes(l, b"txt");
            ffi::lua_setfield(l, -2, c"format".as_ptr());
            ffi::lua_setfield(l, -2, c"verbatim_string".as_ptr());
        }
        Reply::Verbatim(s) => push_bytes(l, s),
        // Pre-encoded replies are bulk strings or simple statuses in practice.
        Reply::Raw(b) => push_bytes(l, b),
    }
}

unsafe fn push_single(l: *mut lua_State, field: &std::ffi::CStr, v: &[u8]) {
    ffi::lua_createtable(l, 0, 1);
    push_bytes(l, v);
    ffi::lua_setfield(l, -2, field.as_ptr());
}

unsafe fn push_array<'a>(l: *mut lua_State, items: impl Iterator<Item = &'a Reply>, resp3: bool) {
    ffi::lua_newtable(l);
    for (i, it) in items.enumerate() {
        push_reply(l, it, resp3);
        ffi::lua_rawseti(l, -2, i as ffi::lua_Integer + 1);
    }
}

/// Converts the value at the top of the stack to the reply the client gets
/// (and pops it). `script_resp3`: the script's protocol (booleans);
/// `client_resp3`: the client's (big numbers, verbatim formats).
pub unsafe fn to_reply(l: *mut lua_State, script_resp3: bool, client_resp3: bool) -> Reply {
    convert(l, script_resp3, client_resp3, 0)
}

/// Nesting past this answers Redis's stack-limit error (Redis reaches it
/// near 8000 levels, when its Lua stack is full; the Rust stack is kept
/// well away from that).
const MAX_NESTING: usize = 1000;

unsafe fn convert(l: *mut lua_State, s3: bool, c3: bool, depth: usize) -> Reply {
    if depth > MAX_NESTING || ffi::lua_checkstack(l, 4) == 0 {
        ffi::lua_settop(l, -2);
        return Reply::error("ERR reached lua stack limit");
    }
    let r = match ffi::lua_type(l, -1) {
        ffi::LUA_TSTRING => Reply::Bulk(Bytes::copy_from_slice(to_bytes(l, -1).unwrap_or(b""))),
        ffi::LUA_TBOOLEAN => {
            let b = ffi::lua_toboolean(l, -1) != 0;
            if s3 {
                Reply::Bool(b)
            } else if b {
                Reply::Int(1)
            } else {
                Reply::Nil
            }
        }
        ffi::LUA_TNUMBER => Reply::Int(c_cast(ffi::lua_tonumber(l, -1))),
        ffi::LUA_TTABLE => table_to_reply(l, s3, c3, depth + 1),
        _ => Reply::Nil,
    };
    ffi::lua_settop(l, -2);
    r
}

/// C's `(long long)d` on x86-64: out of range (and NaN) gives i64::MIN,
/// which is what Redis answers for `return 1/0`.
fn c_cast(d: f64) -> i64 {
    if d.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&d) {
        i64::MIN
    } else {
        d as i64
    }
}

/// The string field `name` of the table on top, if it is a string.
unsafe fn str_field(l: *mut lua_State, name: &std::ffi::CStr) -> Option<String> {
    rawfield(l, name);
    let v = (ffi::lua_type(l, -1) == ffi::LUA_TSTRING)
        .then(|| String::from_utf8_lossy(to_bytes(l, -1).unwrap_or(b"")).into_owned());
    ffi::lua_settop(l, -2);
    v
}

/// Field lookups are raw (Redis goes through metatables): a metamethod that
/// raises must not longjmp out of this Rust code.
unsafe fn table_to_reply(l: *mut lua_State, s3: bool, c3: bool, depth: usize) -> Reply {
    let no_newlines = |s: String| s.replace(['\r', '\n'], " ");
    if let Some(e) = str_field(l, c"err") {
        return Reply::Error(no_newlines(e).into());
    }
    if let Some(s) = str_field(l, c"ok") {
        return Reply::Status(no_newlines(s).into());
    }
    rawfield(l, c"double");
    if ffi::lua_type(l, -1) == ffi::LUA_TNUMBER {
        let d = ffi::lua_tonumber(l, -1);
        ffi::lua_settop(l, -2);
        return Reply::Double(d);
    }
    ffi::lua_settop(l, -2);
    if let Some(n) = str_field(l, c"big_number") {
        let n = no_newlines(n);
        return if c3 {
            Reply::Raw(Bytes::from(format!("({n}\r\n")))
        } else {
            Reply::Bulk(Bytes::from(n))
        };
    }
    rawfield(l, c"verbatim_string");
    if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
        if let (Some(fmt), Some(s)) = (str_field(l, c"format"), {
            rawfield(l, c"string");
            let s = (ffi::lua_type(l, -1) == ffi::LUA_TSTRING)
                .then(|| Bytes::copy_from_slice(to_bytes(l, -1).unwrap_or(b"")));
            ffi::lua_settop(l, -2);
            s
        }) {
            ffi::lua_settop(l, -2);
            return verbatim(&fmt, s, c3);
        }
    }
    ffi::lua_settop(l, -2);
    rawfield(l, c"map");
    if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
        let mut pairs = Vec::new();
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, -2) != 0 {
            ffi::lua_pushvalue(l, -2);
            let k = convert(l, s3, c3, depth);
            let v = convert(l, s3, c3, depth);
            pairs.push((k, v));
        }
        ffi::lua_settop(l, -2);
        return Reply::Map(pairs);
    }
    ffi::lua_settop(l, -2);
    rawfield(l, c"set");
    if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
        let mut items = Vec::new();
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, -2) != 0 {
            ffi::lua_settop(l, -2);
            ffi::lua_pushvalue(l, -1);
            items.push(convert(l, s3, c3, depth));
        }
        ffi::lua_settop(l, -2);
        return Reply::Set(items);
    }
    ffi::lua_settop(l, -2);
    let mut items = Vec::new();
    for j in 1.. {
        ffi::lua_rawgeti(l, -1, j);
        if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
            ffi::lua_settop(l, -2);
            break;
        }
        items.push(convert(l, s3, c3, depth));
    }
    Reply::Array(items)
}

/// Pushes `t[name]` of the table on top, without metamethods.
unsafe fn rawfield(l: *mut lua_State, name: &std::ffi::CStr) {
    ffi::lua_pushstring(l, name.as_ptr());
    ffi::lua_rawget(l, -2);
}

fn verbatim(fmt: &str, s: Bytes, c3: bool) -> Reply {
    if fmt == "txt" {
        return Reply::Verbatim(s);
    }
    if !c3 {
        return Reply::Bulk(s);
    }
    let mut out = format!("={}\r\n{:.3}:", s.len() + 4, fmt).into_bytes();
    out.extend_from_slice(&s);
    out.extend_from_slice(b"\r\n");
    Reply::Raw(Bytes::from(out))
}
