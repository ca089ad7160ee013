//! Small helpers over Lua's C API for the functions scripts call.
//!
//! Library functions are plain C functions (`lua_CFunction`) so their errors
//! are real Lua errors raised where Redis raises them: a message with the
//! caller's position (`luaL_error`) or an error table (`{err=...}`). Rust work
//! happens in an inner function returning `Result`; the error is pushed and
//! raised only after every Rust value is dropped, so `lua_error`'s longjmp
//! crosses no frame with pending destructors.

use std::ffi::{c_char, c_int, CStr};

pub use mlua::ffi;
pub use mlua::ffi::lua_State;

/// Why a library function fails.
pub enum Raise {
    /// `luaL_error`: the caller's `source:line: ` then the text.
    Msg(String),
    /// `luaL_argerror`: `bad argument #n to 'f' (text)`.
    Arg(c_int, &'static str, String),
    /// Redis's error table `{err=...}` (the text as luaPushError gets it).
    Table(String),
    /// The error value already on top of the stack.
    Top,
    /// A message without position (errors Lua raises inside its C API).
    Plain(String),
}

pub type Res = Result<c_int, Raise>;

/// Runs a library function body and raises its error, if any, as Lua does.
///
/// # Safety
/// `l` is the running state; call only as the whole body of a C function.
pub unsafe fn guard(l: *mut lua_State, f: unsafe fn(*mut lua_State) -> Res) -> c_int {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(l)))
        .unwrap_or_else(|_| Err(Raise::Msg("internal error in library function".into())));
    match r {
        Ok(n) => n,
        Err(e) => {
            push_raise(l, e);
            ffi::lua_error(l)
        }
    }
}

unsafe fn push_raise(l: *mut lua_State, e: Raise) {
    match e {
        Raise::Msg(m) => {
            ffi::luaL_where(l, 1);
            push_bytes(l, m.as_bytes());
            ffi::lua_concat(l, 2);
        }
        Raise::Arg(n, f, m) => {
            ffi::luaL_where(l, 1);
            push_bytes(l, format!("bad argument #{n} to '{f}' ({m})").as_bytes());
            ffi::lua_concat(l, 2);
        }
        Raise::Table(m) => push_error_table(l, &m),
        Raise::Top => {}
        Raise::Plain(m) => push_bytes(l, m.as_bytes()),
    }
}

/// Declares `lua_CFunction`s whose bodies are `fn(*mut lua_State) -> Res`.
macro_rules! cfns {
    ($($name:ident => $body:path),* $(,)?) => {$(
        pub unsafe extern "C-unwind" fn $name(l: *mut $crate::scripting::raw::lua_State) -> std::ffi::c_int {
            $crate::scripting::raw::guard(l, $body)
        }
    )*};
}
pub(crate) use cfns;

/// luaPushErrorBuff: `-CODE msg` keeps its code, anything else gets `ERR`;
/// trailing CR/LF trimmed.
pub fn error_text(raw: &str) -> String {
    let (code, msg) = match raw.strip_prefix('-') {
        Some(rest) => match rest.split_once(' ') {
            Some((code, msg)) => (code, msg),
            None => ("ERR", rest),
        },
        None => ("ERR", raw),
    };
    format!("{code} {}", msg.trim_matches(|c| c == '\r' || c == '\n'))
}

/// Pushes `{err=text}` (text used as is).
pub unsafe fn push_error_table(l: *mut lua_State, text: &str) {
    ffi::lua_createtable(l, 0, 2);
    push_bytes(l, text.as_bytes());
    ffi::lua_setfield(l, -2, c"err".as_ptr());
}

pub unsafe fn push_bytes(l: *mut lua_State, b: &[u8]) {
    ffi::lua_pushlstring(l, b.as_ptr() as *const c_char, b.len());
}

/// The bytes of a string or number at `idx` (numbers are converted in place,
/// as `lua_tolstring` does), or None.
pub unsafe fn to_bytes<'a>(l: *mut lua_State, idx: c_int) -> Option<&'a [u8]> {
    let mut len = 0usize;
    let p = ffi::lua_tolstring(l, idx, &mut len);
    if p.is_null() {
        None
    } else {
        Some(std::slice::from_raw_parts(p as *const u8, len))
    }
}

/// Lua's type name of the value at `idx`, "no value" past the top.
pub unsafe fn type_name(l: *mut lua_State, idx: c_int) -> String {
    let t = ffi::lua_type(l, idx);
    if t == ffi::LUA_TNONE {
        return "no value".into();
    }
    CStr::from_ptr(ffi::lua_typename(l, t))
        .to_string_lossy()
        .into_owned()
}

/// `luaL_checknumber`.
pub unsafe fn check_number(l: *mut lua_State, idx: c_int, f: &'static str) -> Result<f64, Raise> {
    if ffi::lua_isnumber(l, idx) != 0 {
        Ok(ffi::lua_tonumber(l, idx))
    } else {
        Err(Raise::Arg(
            idx,
            f,
            format!("number expected, got {}", type_name(l, idx)),
        ))
    }
}

/// `luaL_checkint` (a C cast of the number).
pub unsafe fn check_int(l: *mut lua_State, idx: c_int, f: &'static str) -> Result<i32, Raise> {
    Ok(check_number(l, idx, f)? as i64 as i32)
}

/// Sets `t[name] = f` for the table on top of the stack.
pub unsafe fn set_fn(l: *mut lua_State, name: &CStr, f: ffi::lua_CFunction) {
    ffi::lua_pushcfunction(l, f);
    ffi::lua_setfield(l, -2, name.as_ptr());
}

/// C's `%.<precision>g` of a Lua number, with a fast path for the integers
/// scripts mostly use (exact below 1e15, where %g prints every digit).
pub fn format_number(n: f64, precision: usize) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 && !(n == 0.0 && n.is_sign_negative()) {
        let digits = if n == 0.0 {
            1
        } else {
            n.abs().log10() as usize + 1
        };
        if digits <= precision {
            return itoa::Buffer::new().format(n as i64).to_string();
        }
    }
    crate::protocol::reply::format_g(n, precision)
}
