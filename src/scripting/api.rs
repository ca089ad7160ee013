//! The `redis` table, Redis's `pcall` and `math.random`, the global-table
//! guards, the error handler and the count hook: the C functions of the
//! sandbox. The state of the script running now lives in thread-locals that
//! the engine sets around each run.

use std::cell::Cell;
use std::ffi::{c_int, CStr};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::convert::push_reply;
use super::raw::{self, cfns, error_text, ffi, lua_State, push_bytes, to_bytes, Raise, Res};
use super::{Host, ScriptFlags};

/// The script running on this thread.
pub struct RunCtx {
    pub host: *mut (dyn Host + 'static),
    /// The protocol the script selected with redis.setresp.
    pub resp3: bool,
    pub start: Instant,
}

/// A FUNCTION LOAD in progress: the functions registered so far.
pub struct LoadCtx {
    pub start: Instant,
    pub functions: Vec<Registered>,
}

pub struct Registered {
    pub name: String,
    pub description: Option<String>,
    pub flags: ScriptFlags,
    /// Registry reference of the callback.
    pub fref: c_int,
}

thread_local! {
    pub static RUN: Cell<*mut RunCtx> = const { Cell::new(std::ptr::null_mut()) };
    pub static LOAD: Cell<*mut LoadCtx> = const { Cell::new(std::ptr::null_mut()) };
    /// redisLrand48's state (48 bits), per thread as each core has its Lua.
    static RAND: Cell<u64> = const { Cell::new(0x1234_ABCD_330E) };
}

/// How long a FUNCTION LOAD may run its top-level code.
const LOAD_TIMEOUT: Duration = Duration::from_millis(500);

fn run_ctx<'a>() -> Option<&'a mut RunCtx> {
    // SAFETY: set by the engine for the duration of a run, on this thread.
    unsafe { RUN.with(|c| c.get().as_mut()) }
}

fn table_err(msg: &str) -> Raise {
    Raise::Table(error_text(msg))
}

cfns! {
    redis_call => call,
    redis_pcall => pcall_cmd,
    redis_sha1hex => sha1hex,
    redis_error_reply => error_reply,
    redis_status_reply => status_reply,
    redis_log => log,
    redis_setresp => setresp,
    redis_set_repl => set_repl,
    redis_replicate_commands => replicate_commands,
    redis_breakpoint => breakpoint,
    redis_debug => debug,
    lua_pcall_compat => pcall_compat,
    math_random => random,
    math_randomseed => randomseed,
    missing_global => missing,
    readonly_table => readonly,
    error_handler => handler,
    register_function => register,
    lua_next => next,
    lua_pairs => pairs,
    lua_rawset => rawset,
}

/// Replaces the table at `idx` by the table a read-only proxy stands for.
unsafe fn unproxy(l: *mut lua_State, idx: c_int) -> bool {
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, c"redwing.real".as_ptr());
    ffi::lua_pushvalue(l, idx);
    ffi::lua_rawget(l, -2);
    let found = ffi::lua_type(l, -1) == ffi::LUA_TTABLE;
    if found {
        ffi::lua_replace(l, idx);
    } else {
        ffi::lua_settop(l, -2);
    }
    ffi::lua_settop(l, -2);
    found
}

unsafe fn check_table(l: *mut lua_State, idx: c_int, f: &'static str) -> Result<(), Raise> {
    if ffi::lua_type(l, idx) != ffi::LUA_TTABLE {
        return Err(Raise::Arg(
            idx,
            f,
            format!("table expected, got {}", raw::type_name(l, idx)),
        ));
    }
    Ok(())
}

/// `next`, seeing through the read-only proxies (`pairs(string)` works).
unsafe fn next(l: *mut lua_State) -> Res {
    check_table(l, 1, "next")?;
    ffi::lua_settop(l, 2);
    unproxy(l, 1);
    if ffi::lua_next(l, 1) != 0 {
        Ok(2)
    } else {
        ffi::lua_pushnil(l);
        Ok(1)
    }
}

unsafe fn pairs(l: *mut lua_State) -> Res {
    check_table(l, 1, "pairs")?;
    ffi::lua_pushcfunction(l, lua_next);
    ffi::lua_pushvalue(l, 1);
    ffi::lua_pushnil(l);
    Ok(3)
}

/// `rawset`, refusing the read-only proxies as Redis refuses its read-only
/// tables.
unsafe fn rawset(l: *mut lua_State) -> Res {
    check_table(l, 1, "rawset")?;
    for i in [2, 3] {
        if ffi::lua_type(l, i) == ffi::LUA_TNONE {
            return Err(Raise::Arg(i, "rawset", "value expected".into()));
        }
    }
    ffi::lua_settop(l, 3);
    ffi::lua_pushvalue(l, 1);
    if unproxy(l, 4) {
        return Err(Raise::Plain("Attempt to modify a readonly table".into()));
    }
    ffi::lua_settop(l, 3);
    ffi::lua_rawset(l, 1);
    Ok(1)
}

unsafe fn call(l: *mut lua_State) -> Res {
    generic_call(l, true)
}

unsafe fn pcall_cmd(l: *mut lua_State) -> Res {
    generic_call(l, false)
}

/// redis.call / redis.pcall: a command error is raised by call as the error
/// table, returned by pcall.
unsafe fn generic_call(l: *mut lua_State, raise: bool) -> Res {
    let fail = |l, msg: &str| {
        if raise {
            Err(table_err(msg))
        } else {
            raw::push_error_table(l, &error_text(msg));
            Ok(1)
        }
    };
    let Some(ctx) = run_ctx() else {
        return Err(table_err(
            "redis.call/pcall can only be called inside a script invocation",
        ));
    };
    let argc = ffi::lua_gettop(l);
    if argc == 0 {
        return fail(
            l,
            "Please specify at least one argument for this redis lib call",
        );
    }
    let mut args = Vec::with_capacity(argc as usize);
    for i in 1..=argc {
        match ffi::lua_type(l, i) {
            // Lua's own number formatting loses precision; Redis uses %.17g.
            ffi::LUA_TNUMBER => {
                args.push(Bytes::from(raw::format_number(ffi::lua_tonumber(l, i), 17)))
            }
            ffi::LUA_TSTRING => args.push(Bytes::copy_from_slice(to_bytes(l, i).unwrap_or(b""))),
            _ => {
                return fail(
                    l,
                    "Lua redis lib command arguments must be strings or integers",
                )
            }
        }
    }
    ffi::lua_settop(l, 0);
    let reply = (*ctx.host).call(&args, ctx.resp3);
    drop(args);
    push_reply(l, &reply, ctx.resp3);
    if raise && reply.is_error() {
        return Err(Raise::Top);
    }
    Ok(1)
}

unsafe fn sha1hex(l: *mut lua_State) -> Res {
    if ffi::lua_gettop(l) != 1 {
        return Err(table_err("wrong number of arguments"));
    }
    let hex = super::sha1_hex(to_bytes(l, 1).unwrap_or(b""));
    push_bytes(l, hex.as_bytes());
    Ok(1)
}

/// The single string argument of error_reply / status_reply; else Redis
/// returns (does not raise) an error table.
unsafe fn single_string<'a>(l: *mut lua_State) -> Option<&'a [u8]> {
    if ffi::lua_gettop(l) != 1 || ffi::lua_type(l, -1) != ffi::LUA_TSTRING {
        raw::push_error_table(l, &error_text("wrong number or type of arguments"));
        return None;
    }
    to_bytes(l, 1)
}

unsafe fn error_reply(l: *mut lua_State) -> Res {
    let Some(s) = single_string(l) else {
        return Ok(1);
    };
    let s = String::from_utf8_lossy(s);
    let text = if s.starts_with('-') {
        error_text(&s)
    } else {
        error_text(&format!("-{s}"))
    };
    raw::push_error_table(l, &text);
    Ok(1)
}

unsafe fn status_reply(l: *mut lua_State) -> Res {
    let Some(_) = single_string(l) else {
        return Ok(1);
    };
    ffi::lua_createtable(l, 0, 1);
    ffi::lua_pushvalue(l, 1);
    ffi::lua_setfield(l, -2, c"ok".as_ptr());
    Ok(1)
}

unsafe fn log(l: *mut lua_State) -> Res {
    let argc = ffi::lua_gettop(l);
    if argc < 2 {
        return Err(table_err("redis.log() requires two arguments or more."));
    }
    if ffi::lua_isnumber(l, 1) == 0 {
        return Err(table_err("First argument must be a number (log level)."));
    }
    let level = ffi::lua_tonumber(l, 1) as i32;
    if !(0..=3).contains(&level) {
        return Err(table_err("Invalid debug level."));
    }
    let mut msg = Vec::new();
    for i in 2..=argc {
        if let Some(s) = to_bytes(l, i) {
            if i != 2 {
                msg.push(b' ');
            }
            msg.extend_from_slice(s);
        }
    }
    let msg = String::from_utf8_lossy(&msg);
    if let Some(ctx) = run_ctx() {
        (*ctx.host).log(level, &msg);
    } else {
        // During FUNCTION LOAD there is no host: log as the server does.
        match level {
            0 | 1 => tracing::debug!("{msg}"),
            2 => tracing::info!("{msg}"),
            _ => tracing::warn!("{msg}"),
        }
    }
    Ok(0)
}

unsafe fn setresp(l: *mut lua_State) -> Res {
    let Some(ctx) = run_ctx() else {
        return Err(table_err(
            "redis.setresp can only be called inside a script invocation",
        ));
    };
    if ffi::lua_gettop(l) != 1 {
        return Err(table_err("redis.setresp() requires one argument."));
    }
    match ffi::lua_tonumber(l, 1) as i32 {
        2 => ctx.resp3 = false,
        3 => ctx.resp3 = true,
        _ => return Err(table_err("RESP version must be 2 or 3.")),
    }
    Ok(0)
}

unsafe fn set_repl(l: *mut lua_State) -> Res {
    let Some(ctx) = run_ctx() else {
        return Err(table_err(
            "redis.set_repl can only be called inside a script invocation",
        ));
    };
    if ffi::lua_gettop(l) != 1 {
        return Err(table_err("redis.set_repl() requires two arguments."));
    }
    let flags = ffi::lua_tonumber(l, 1) as i32;
    if flags & !3 != 0 {
        return Err(table_err(
            "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
        ));
    }
    (*ctx.host).set_repl(flags as u8);
    Ok(0)
}

unsafe fn replicate_commands(l: *mut lua_State) -> Res {
    ffi::lua_pushboolean(l, 1);
    Ok(1)
}

/// Outside the debugger (not supported) breakpoint is false, debug a no-op.
unsafe fn breakpoint(l: *mut lua_State) -> Res {
    ffi::lua_pushboolean(l, 0);
    Ok(1)
}

unsafe fn debug(_l: *mut lua_State) -> Res {
    Ok(0)
}

/// Redis's `pcall`: as Lua's, but an error table with a string `err` comes
/// back as that string (what scripts written for Redis 6 expect).
unsafe fn pcall_compat(l: *mut lua_State) -> Res {
    let argc = ffi::lua_gettop(l);
    if argc == 0 {
        return Err(Raise::Arg(1, "pcall", "value expected".into()));
    }
    ffi::lua_pushboolean(l, 1);
    ffi::lua_insert(l, 1);
    if ffi::lua_pcall(l, argc - 1, ffi::LUA_MULTRET, 0) != 0 {
        ffi::lua_remove(l, 1);
        if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
            ffi::lua_getfield(l, -1, c"err".as_ptr());
            if ffi::lua_isstring(l, -1) != 0 {
                ffi::lua_replace(l, -2);
            } else {
                ffi::lua_settop(l, -2);
            }
        }
        ffi::lua_pushboolean(l, 0);
        ffi::lua_insert(l, 1);
    }
    Ok(ffi::lua_gettop(l))
}

/// redisLrand48: the 48-bit LCG of lrand48, same sequence on every platform.
fn lrand48() -> i32 {
    RAND.with(|s| {
        let x = s.get().wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB) & 0xFFFF_FFFF_FFFF;
        s.set(x);
        (x >> 17) as i32
    })
}

unsafe fn random(l: *mut lua_State) -> Res {
    const MAX: i32 = i32::MAX;
    let r = (lrand48() % MAX) as f64 / MAX as f64;
    match ffi::lua_gettop(l) {
        0 => ffi::lua_pushnumber(l, r),
        1 => {
            let u = raw::check_int(l, 1, "random")?;
            if u < 1 {
                return Err(Raise::Arg(1, "random", "interval is empty".into()));
            }
            ffi::lua_pushnumber(l, (r * u as f64).floor() + 1.0);
        }
        2 => {
            let lo = raw::check_int(l, 1, "random")?;
            let hi = raw::check_int(l, 2, "random")?;
            if lo > hi {
                return Err(Raise::Arg(2, "random", "interval is empty".into()));
            }
            ffi::lua_pushnumber(l, (r * (hi as f64 - lo as f64 + 1.0)).floor() + lo as f64);
        }
        _ => return Err(Raise::Msg("wrong number of arguments".into())),
    }
    Ok(1)
}

unsafe fn randomseed(l: *mut lua_State) -> Res {
    let seed = raw::check_int(l, 1, "randomseed")?;
    RAND.with(|s| s.set(((seed as u32 as u64) << 16) | 0x330E));
    Ok(0)
}

/// `__index` of the globals: reading an unset global is an error.
unsafe fn missing(l: *mut lua_State) -> Res {
    let name = String::from_utf8_lossy(to_bytes(l, 2).unwrap_or(b"?")).into_owned();
    Err(Raise::Msg(format!(
        "Script attempted to access nonexistent global variable '{name}'"
    )))
}

/// `__newindex` of every protected table.
unsafe fn readonly(_l: *mut lua_State) -> Res {
    Err(Raise::Msg("Attempt to modify a readonly table".into()))
}

/// The message handler of every run: turns the error into
/// `{err=..., source=..., line=...}`, the position being the script line that
/// raised it (the caller, when a C function such as redis.call raised).
unsafe fn handler(l: *mut lua_State) -> Res {
    let mut ar: ffi::lua_Debug = std::mem::zeroed();
    let mut have = ffi::lua_getstack(l, 1, &mut ar) != 0;
    if have {
        ffi::lua_getinfo(l, c"Sl".as_ptr(), &mut ar);
        if !ar.what.is_null() && CStr::from_ptr(ar.what) == c"C" {
            have = ffi::lua_getstack(l, 2, &mut ar) != 0;
            if have {
                ffi::lua_getinfo(l, c"Sl".as_ptr(), &mut ar);
            }
        }
    }
    ffi::lua_settop(l, 1);
    if ffi::lua_type(l, 1) != ffi::LUA_TTABLE {
        let text = format!("ERR {}", tostring(l, 1));
        raw::push_error_table(l, &text);
        ffi::lua_replace(l, 1);
    }
    if have && !ar.source.is_null() {
        ffi::lua_pushstring(l, ar.source);
        ffi::lua_setfield(l, 1, c"source".as_ptr());
        ffi::lua_pushnumber(l, ar.currentline as f64);
        ffi::lua_setfield(l, 1, c"line".as_ptr());
    }
    Ok(1)
}

/// Lua's `tostring` for the plain types.
pub unsafe fn tostring(l: *mut lua_State, idx: c_int) -> String {
    match ffi::lua_type(l, idx) {
        ffi::LUA_TSTRING | ffi::LUA_TNUMBER => {
            String::from_utf8_lossy(to_bytes(l, idx).unwrap_or(b"")).into_owned()
        }
        ffi::LUA_TNIL => "nil".into(),
        ffi::LUA_TBOOLEAN => (ffi::lua_toboolean(l, idx) != 0).to_string(),
        _ => format!(
            "{}: {:p}",
            raw::type_name(l, idx),
            ffi::lua_topointer(l, idx)
        ),
    }
}

/// Count hook: asks the host whether to stop (SCRIPT KILL), or stops a
/// FUNCTION LOAD that runs too long. After a kill it fires on every line,
/// so a pcall in the script cannot swallow the error and go on.
pub unsafe extern "C-unwind" fn count_hook(l: *mut lua_State, _ar: *mut ffi::lua_Debug) {
    let Some(text) = abort_reason() else { return };
    ffi::lua_sethook(l, Some(count_hook), ffi::LUA_MASKLINE, 0);
    raw::push_error_table(l, &text);
    drop(text);
    ffi::lua_error(l);
}

fn abort_reason() -> Option<String> {
    if let Some(ctx) = run_ctx() {
        // SAFETY: the host outlives the run that set the context.
        let host = unsafe { &mut *ctx.host };
        return host.should_abort(ctx.start.elapsed()).map(str::to_string);
    }
    let load = LOAD.with(|c| c.get());
    // SAFETY: set by the engine for the duration of a load.
    let load = unsafe { load.as_ref() }?;
    (load.start.elapsed() > LOAD_TIMEOUT).then(|| error_text("FUNCTION LOAD timeout"))
}

/// redis.register_function(name, fn) or redis.register_function{...}.
unsafe fn register(l: *mut lua_State) -> Res {
    let Some(load) = LOAD.with(|c| c.get()).as_mut() else {
        return Err(table_err(
            "redis.register_function can only be called on FUNCTION LOAD command",
        ));
    };
    let argc = ffi::lua_gettop(l);
    if !(1..=2).contains(&argc) {
        return Err(table_err(
            "wrong number of arguments to redis.register_function",
        ));
    }
    let (name, description, flags) = if argc == 2 {
        let Some(name) = lua_string(l, 1) else {
            return Err(table_err(
                "first argument to redis.register_function must be a string",
            ));
        };
        if ffi::lua_isfunction(l, 2) == 0 {
            return Err(table_err(
                "second argument to redis.register_function must be a function",
            ));
        }
        ffi::lua_pushvalue(l, 2);
        (name, None, ScriptFlags::default())
    } else {
        named_args(l)?
    };
    // The callback is on top of the stack.
    let err = if !valid_name(&name) {
        // Redis 7.0 reports a bad function name with the library text.
        Some("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long")
    } else if load.functions.iter().any(|f| f.name == name) {
        Some("Function already exists in the library")
    } else {
        None
    };
    if let Some(e) = err {
        return Err(table_err(e));
    }
    let fref = ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX);
    load.functions.push(Registered {
        name,
        description,
        flags,
        fref,
    });
    Ok(0)
}

/// Letters, digits and underscores, at least one.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

unsafe fn lua_string(l: *mut lua_State, idx: c_int) -> Option<String> {
    (ffi::lua_isstring(l, idx) != 0)
        .then(|| String::from_utf8_lossy(to_bytes(l, idx).unwrap_or(b"")).into_owned())
}

/// The table form; leaves the callback on top of the stack.
unsafe fn named_args(l: *mut lua_State) -> Result<(String, Option<String>, ScriptFlags), Raise> {
    if ffi::lua_type(l, 1) != ffi::LUA_TTABLE {
        return Err(table_err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."));
    }
    let (mut name, mut desc, mut flags, mut callback) = (None, None, ScriptFlags::default(), false);
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, 1) != 0 {
        if ffi::lua_isstring(l, -2) == 0 {
            return Err(table_err(
                "named argument key given to redis.register_function is not a string",
            ));
        }
        ffi::lua_pushvalue(l, -2);
        let key = lua_string(l, -1).unwrap_or_default().to_ascii_lowercase();
        ffi::lua_settop(l, -2);
        match key.as_str() {
            "function_name" => {
                name = Some(lua_string(l, -1).ok_or_else(|| {
                    table_err(
                        "function_name argument given to redis.register_function must be a string",
                    )
                })?);
            }
            "description" => {
                desc = Some(lua_string(l, -1).ok_or_else(|| {
                    table_err(
                        "description argument given to redis.register_function must be a string",
                    )
                })?);
            }
            "callback" => {
                if ffi::lua_isfunction(l, -1) == 0 {
                    return Err(table_err(
                        "callback argument given to redis.register_function must be a function",
                    ));
                }
                callback = true;
                ffi::lua_setfield(
                    l,
                    ffi::LUA_REGISTRYINDEX,
                    c"redwing.pending_callback".as_ptr(),
                );
                continue;
            }
            "flags" => {
                if ffi::lua_type(l, -1) != ffi::LUA_TTABLE {
                    return Err(table_err("flags argument to redis.register_function must be a table representing function flags"));
                }
                for j in 1.. {
                    ffi::lua_rawgeti(l, -1, j);
                    if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
                        ffi::lua_settop(l, -2);
                        break;
                    }
                    let ok =
                        ffi::lua_isstring(l, -1) != 0 && flags.set(to_bytes(l, -1).unwrap_or(b""));
                    ffi::lua_settop(l, -2);
                    if !ok {
                        return Err(table_err("unknown flag given"));
                    }
                }
            }
            _ => {
                return Err(table_err(
                    "unknown argument given to redis.register_function",
                ))
            }
        }
        ffi::lua_settop(l, -2);
    }
    let Some(name) = name else {
        return Err(table_err(
            "redis.register_function must get a function name argument",
        ));
    };
    if !callback {
        return Err(table_err(
            "redis.register_function must get a callback argument",
        ));
    }
    ffi::lua_getfield(
        l,
        ffi::LUA_REGISTRYINDEX,
        c"redwing.pending_callback".as_ptr(),
    );
    ffi::lua_pushnil(l);
    ffi::lua_setfield(
        l,
        ffi::LUA_REGISTRYINDEX,
        c"redwing.pending_callback".as_ptr(),
    );
    Ok((name, desc, flags))
}
