//! One core's Lua state: the sandbox, compiled scripts and functions, and
//! the run loop (`lua_pcall` with Redis's message handler).

use std::collections::HashMap;
use std::ffi::{c_int, CStr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use mlua::{Lua, LuaOptions, StdLib};

use super::api::{self, LoadCtx, RunCtx, LOAD, RUN};
use super::convert::to_reply;
use super::functions::{parse_metadata, FunctionInfo, Library, RestorePolicy};
use super::raw::{ffi, lua_State, push_bytes, to_bytes};
use super::store::{Script, Store};
use super::{parse_shebang, sha1_hex, Host, FUNCTION_NOT_FOUND, NOSCRIPT};
use crate::protocol::Reply;

/// Builds the sandbox from the state's own globals (`G`), given the C
/// functions: every library table and the globals become read-only proxies;
/// FUNCTION code gets its own environment whose `__index` is switched to the
/// load-time API while a library loads.
const INIT: &str = r#"
local G, c, version, version_num = ...
local setmetatable, getmetatable, ipairs = setmetatable, getmetatable, ipairs
G.redis = {
  call = c.call, pcall = c.pcall, sha1hex = c.sha1hex, error_reply = c.error_reply,
  status_reply = c.status_reply, log = c.log, setresp = c.setresp, set_repl = c.set_repl,
  replicate_commands = c.replicate_commands, breakpoint = c.breakpoint, debug = c.debug,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REPL_NONE = 0, REPL_AOF = 1, REPL_SLAVE = 2, REPL_REPLICA = 2, REPL_ALL = 3,
  REDIS_VERSION = version, REDIS_VERSION_NUM = version_num,
}
G.math.random, G.math.randomseed = c.random, c.randomseed
G.pcall = c.pcall_compat
G.__redis__err__handler = c.error_handler
G.cjson, G.bit, G.struct, G.cmsgpack = c.cjson, c.bit, c.struct, c.cmsgpack
for _, k in ipairs{'print', 'dofile', 'loadfile', 'setfenv', 'getfenv', 'newproxy',
                   'module', 'require', 'package', 'debug', 'os', 'io'} do
  G[k] = nil
end
local real = setmetatable({}, {__mode = 'k'})
local function protect(t)
  local p = setmetatable({}, {__index = t, __newindex = c.readonly, __metatable = false})
  real[p] = t
  return p
end
G.next, G.pairs, G.rawset = c.next, c.pairs, c.rawset
for _, k in ipairs{'string', 'table', 'math', 'coroutine', 'redis', 'cjson', 'bit',
                   'struct', 'cmsgpack'} do
  G[k] = protect(G[k])
end
local smt = getmetatable('')
smt.__index = G.string
smt.__metatable = protect(smt)
local globals = protect(G)
G._G = globals
setmetatable(G, {__index = c.missing, __metatable = false})
local load_redis = setmetatable({
  register_function = c.register_function, log = c.log,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = version, REDIS_VERSION_NUM = version_num,
}, {__index = c.missing})
local load_api = setmetatable({redis = protect(load_redis)}, {__index = c.missing})
local fmeta = {__index = G, __newindex = c.readonly, __metatable = false}
return globals, setmetatable({}, fmeta), fmeta, load_api, G, real
"#;

pub struct Engine {
    lua: Lua,
    store: Arc<Store>,
    /// SHA1 -> registry reference of the compiled script.
    scripts: HashMap<String, c_int>,
    scripts_gen: u64,
    /// Function name -> registry reference of its callback.
    functions: HashMap<Vec<u8>, c_int>,
    functions_gen: Option<u64>,
    runs: u32,
}

/// Registry names of the tables the run loop needs.
const REG_G: &CStr = c"redwing.G";
const REG_FENV: &CStr = c"redwing.fenv";
const REG_FMETA: &CStr = c"redwing.fmeta";
const REG_LOADAPI: &CStr = c"redwing.load_api";

impl Engine {
    /// Creates this core's Lua state. Call once per core and keep it.
    pub fn new(store: Arc<Store>) -> Engine {
        // SAFETY: no C modules can be loaded: package is not opened.
        let lua = unsafe {
            Lua::unsafe_new_with(
                StdLib::TABLE | StdLib::STRING | StdLib::MATH,
                LuaOptions::default(),
            )
        };
        let scripts_gen = store.scripts_gen.load(Ordering::Relaxed);
        let engine = Engine {
            lua,
            store,
            scripts: HashMap::new(),
            scripts_gen,
            functions: HashMap::new(),
            functions_gen: None,
            runs: 0,
        };
        engine.init().expect("Lua sandbox setup");
        engine
    }

    fn init(&self) -> mlua::Result<()> {
        let lua = &self.lua;
        let c = lua.create_table()?;
        // SAFETY: the functions follow the C function protocol (raw.rs).
        unsafe {
            let f = |name: &str, f: ffi::lua_CFunction| -> mlua::Result<()> {
                c.set(name, lua.create_c_function(f)?)
            };
            f("call", api::redis_call)?;
            f("pcall", api::redis_pcall)?;
            f("sha1hex", api::redis_sha1hex)?;
            f("error_reply", api::redis_error_reply)?;
            f("status_reply", api::redis_status_reply)?;
            f("log", api::redis_log)?;
            f("setresp", api::redis_setresp)?;
            f("set_repl", api::redis_set_repl)?;
            f("replicate_commands", api::redis_replicate_commands)?;
            f("breakpoint", api::redis_breakpoint)?;
            f("debug", api::redis_debug)?;
            f("pcall_compat", api::lua_pcall_compat)?;
            f("random", api::math_random)?;
            f("randomseed", api::math_randomseed)?;
            f("missing", api::missing_global)?;
            f("readonly", api::readonly_table)?;
            f("register_function", api::register_function)?;
            f("next", api::lua_next)?;
            f("error_handler", api::error_handler)?;
            f("pairs", api::lua_pairs)?;
            f("rawset", api::lua_rawset)?;
            for (name, open) in [
                ("cjson", super::cjson::open as unsafe fn(*mut lua_State)),
                ("bit", super::bit::open),
                ("struct", super::structlib::open),
                ("cmsgpack", super::cmsgpack::open),
            ] {
                let t: mlua::Table = lua.exec_raw((), |l| open(l))?;
                c.set(name, t)?;
            }
        }
        let version = crate::commands::server::REDIS_VERSION;
        let num = version
            .split('.')
            .fold(0u32, |n, p| (n << 8) | p.parse::<u32>().unwrap_or(0));
        let (globals, fenv, fmeta, load_api, g, real): (
            mlua::Table,
            mlua::Table,
            mlua::Table,
            mlua::Table,
            mlua::Table,
            mlua::Table,
        ) = lua
            .load(INIT)
            .set_name("=redwing")
            .call((lua.globals(), c, version, num))?;
        lua.set_named_registry_value("redwing.G", g)?;
        lua.set_named_registry_value("redwing.real", real)?;
        lua.set_named_registry_value("redwing.fenv", fenv)?;
        lua.set_named_registry_value("redwing.fmeta", fmeta)?;
        lua.set_named_registry_value("redwing.load_api", load_api)?;
        lua.set_globals(globals)
    }

    /// Bytes the Lua state uses (INFO used_memory_lua).
    pub fn memory(&self) -> usize {
        self.lua.used_memory()
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// SCRIPT LOAD: compiles and caches; returns the SHA1.
    pub fn script_load(&mut self, body: &[u8]) -> Result<String, Reply> {
        let sha = sha1_hex(body);
        self.script(&sha, Some(body))?;
        Ok(sha)
    }

    /// EVAL / EVAL_RO (the caller checks flags: [`parse_shebang`]).
    pub fn eval(
        &mut self,
        host: &mut dyn Host,
        body: &[u8],
        keys: &[Bytes],
        args: &[Bytes],
    ) -> Reply {
        let sha = sha1_hex(body);
        match self.script(&sha, Some(body)) {
            Ok(fref) => self.run(host, fref, &sha, true, keys, args),
            Err(e) => e,
        }
    }

    /// EVALSHA / EVALSHA_RO (flags: [`Store::script_flags`]).
    pub fn evalsha(
        &mut self,
        host: &mut dyn Host,
        sha: &[u8],
        keys: &[Bytes],
        args: &[Bytes],
    ) -> Reply {
        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
        match self.script(&sha, None) {
            Ok(fref) => self.run(host, fref, &sha, true, keys, args),
            Err(e) => e,
        }
    }

    /// The compiled script for `sha`, compiling from `body` or the store.
    fn script(&mut self, sha: &str, body: Option<&[u8]>) -> Result<c_int, Reply> {
        let generation = self.store.scripts_gen.load(Ordering::Relaxed);
        if generation != self.scripts_gen {
            let refs: Vec<c_int> = self.scripts.drain().map(|(_, r)| r).collect();
            self.unref(&refs);
            self.scripts_gen = generation;
        }
        if let Some(&r) = self.scripts.get(sha) {
            return Ok(r);
        }
        let script = match body {
            Some(body) => {
                let (flags, skip) = parse_shebang(body).map_err(Reply::error)?;
                Script {
                    body: body.to_vec(),
                    flags,
                    skip,
                }
            }
            None => {
                let s = self
                    .store
                    .script(sha)
                    .ok_or_else(|| Reply::error(NOSCRIPT))?;
                Script {
                    body: s.body.clone(),
                    flags: s.flags,
                    skip: s.skip,
                }
            }
        };
        let fref = self
            .compile(&script.body[script.skip..], c"@user_script", false)
            .map_err(|e| Reply::error(format!("ERR Error compiling script (new function): {e}")))?;
        if body.is_some() {
            self.store.add_script(sha.to_string(), script);
        }
        self.scripts.insert(sha.to_string(), fref);
        Ok(fref)
    }

    /// Compiles a chunk into a registry reference; FUNCTION code gets the
    /// functions' environment.
    fn compile(&self, code: &[u8], name: &CStr, function_env: bool) -> Result<c_int, String> {
        let mut out = Err(String::new());
        // SAFETY: balanced stack use inside mlua's protected call.
        let r = unsafe {
            self.lua.exec_raw::<()>((), |l| {
                let top = ffi::lua_gettop(l);
                if ffi::luaL_loadbuffer(l, code.as_ptr() as _, code.len(), name.as_ptr()) != 0 {
                    out = Err(one_line(&api::tostring(l, -1)));
                } else {
                    if function_env {
                        ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, REG_FENV.as_ptr());
                        ffi::lua_setfenv(l, -2);
                    }
                    out = Ok(ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX));
                }
                ffi::lua_settop(l, top);
            })
        };
        r.map_err(|e| e.to_string())?;
        out
    }

    fn unref(&self, refs: &[c_int]) {
        if refs.is_empty() {
            return;
        }
        // SAFETY: unreferencing our own registry references.
        let _ = unsafe {
            self.lua.exec_raw::<()>((), |l| {
                for &r in refs {
                    ffi::luaL_unref(l, ffi::LUA_REGISTRYINDEX, r);
                }
            })
        };
    }

    /// Runs a compiled script (`eval`: KEYS/ARGV globals) or function
    /// (`f(keys, args)`), and converts its result or error.
    fn run(
        &mut self,
        host: &mut dyn Host,
        fref: c_int,
        name: &str,
        eval: bool,
        keys: &[Bytes],
        args: &[Bytes],
    ) -> Reply {
        let client_resp3 = host.resp3();
        // SAFETY: the context (and the host it points to) outlives the run;
        // it is cleared before this function returns.
        let host: *mut (dyn Host + '_) = host;
        let host: *mut (dyn Host + 'static) = unsafe { std::mem::transmute(host) };
        let mut ctx = RunCtx {
            host,
            resp3: false,
            start: Instant::now(),
        };
        let ctx_ptr: *mut RunCtx = &mut ctx;
        RUN.with(|c| c.set(ctx_ptr));
        let mut out = Reply::Nil;
        // SAFETY: balanced stack use inside mlua's protected call.
        let r = unsafe {
            self.lua.exec_raw::<()>((), |l| {
                let top = ffi::lua_gettop(l);
                ffi::lua_sethook(l, Some(api::count_hook), ffi::LUA_MASKCOUNT, 100_000);
                ffi::lua_pushcfunction(l, api::error_handler);
                let handler = ffi::lua_gettop(l);
                ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, fref as _);
                let nargs = if eval {
                    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, REG_G.as_ptr());
                    push_strings(l, keys);
                    set_raw(l, c"KEYS");
                    push_strings(l, args);
                    set_raw(l, c"ARGV");
                    ffi::lua_settop(l, -2);
                    0
                } else {
                    push_strings(l, keys);
                    push_strings(l, args);
                    2
                };
                let status = ffi::lua_pcall(l, nargs, 1, handler);
                ffi::lua_sethook(l, None, 0, 0);
                clear_rawset_globals(l);
                if eval {
                    // Functions share the globals but must not see KEYS/ARGV.
                    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, REG_G.as_ptr());
                    ffi::lua_pushnil(l);
                    set_raw(l, c"KEYS");
                    ffi::lua_pushnil(l);
                    set_raw(l, c"ARGV");
                    ffi::lua_settop(l, -2);
                }
                out = if status != 0 {
                    error_reply(l, name)
                } else {
                    to_reply(l, (*ctx_ptr).resp3, client_resp3)
                };
                ffi::lua_settop(l, top);
            })
        };
        RUN.with(|c| c.set(std::ptr::null_mut()));
        self.runs += 1;
        if self.runs.is_multiple_of(50) {
            let _ = self.lua.gc_step();
        }
        match r {
            Ok(()) => out,
            Err(e) => Reply::error(format!(
                "ERR Error running script {name}, {}",
                one_line(&e.to_string())
            )),
        }
    }

    /// FUNCTION LOAD [REPLACE]: returns the library name.
    pub fn function_load(&mut self, code: &[u8], replace: bool) -> Result<String, Reply> {
        let lib = self.load_library(code).map_err(Reply::error)?;
        let name = lib.0.name.clone();
        self.unref(&lib.1);
        self.store
            .install(vec![lib.0], replace, false)
            .map_err(Reply::error)?;
        Ok(name)
    }

    /// FUNCTION RESTORE of the library codes of a dump.
    pub fn function_restore(
        &mut self,
        codes: &[Bytes],
        policy: RestorePolicy,
    ) -> Result<(), Reply> {
        let mut libs = Vec::new();
        for code in codes {
            let (lib, refs) = self.load_library(code).map_err(Reply::error)?;
            self.unref(&refs);
            libs.push(lib);
        }
        self.store
            .install(
                libs,
                policy == RestorePolicy::Replace,
                policy == RestorePolicy::Flush,
            )
            .map_err(Reply::error)
    }

    /// FCALL / FCALL_RO (flags: [`Store::function`]).
    pub fn fcall(
        &mut self,
        host: &mut dyn Host,
        name: &[u8],
        keys: &[Bytes],
        args: &[Bytes],
    ) -> Reply {
        self.sync_functions();
        let Some(&fref) = self.functions.get(name) else {
            return Reply::error(FUNCTION_NOT_FOUND);
        };
        let name = String::from_utf8_lossy(name).into_owned();
        self.run(host, fref, &name, false, keys, args)
    }

    /// Recompiles the libraries when another load, delete or flush happened.
    fn sync_functions(&mut self) {
        let generation = self.store.libraries_gen();
        if self.functions_gen == Some(generation) {
            return;
        }
        let old: Vec<c_int> = self.functions.drain().map(|(_, r)| r).collect();
        self.unref(&old);
        let libs = self.store.libraries().libs.clone();
        for lib in libs {
            if let Ok((lib, refs)) = self.load_library(&lib.code) {
                for (f, r) in lib.functions.iter().zip(refs) {
                    self.functions.insert(f.name.as_bytes().to_vec(), r);
                }
            }
        }
        self.functions_gen = Some(generation);
    }

    /// Compiles and runs a library's code with the load-time API; returns it
    /// with the registry references of its callbacks, in function order.
    fn load_library(&mut self, code: &[u8]) -> Result<(Library, Vec<c_int>), String> {
        let (name, skip) = parse_metadata(code)?;
        let chunk = self
            .compile(&code[skip..], c"@user_function", true)
            .map_err(|e| format!("ERR Error compiling function: {e}"))?;
        let mut load = LoadCtx {
            start: Instant::now(),
            functions: Vec::new(),
        };
        let load_ptr: *mut LoadCtx = &mut load;
        LOAD.with(|c| c.set(load_ptr));
        let mut err = None;
        // SAFETY: balanced stack use inside mlua's protected call.
        let r = unsafe {
            self.lua.exec_raw::<()>((), |l| {
                let top = ffi::lua_gettop(l);
                set_function_globals(l, REG_LOADAPI);
                ffi::lua_sethook(l, Some(api::count_hook), ffi::LUA_MASKCOUNT, 100_000);
                ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, chunk as _);
                if ffi::lua_pcall(l, 0, 0, 0) != 0 {
                    let msg = if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
                        ffi::lua_getfield(l, -1, c"err".as_ptr());
                        api::tostring(l, -1)
                    } else {
                        format!("ERR {}", api::tostring(l, -1))
                    };
                    err = Some(format!(
                        "ERR Error registering functions: {}",
                        one_line(&msg)
                    ));
                }
                ffi::lua_sethook(l, None, 0, 0);
                set_function_globals(l, REG_G);
                ffi::luaL_unref(l, ffi::LUA_REGISTRYINDEX, chunk);
                ffi::lua_settop(l, top);
            })
        };
        LOAD.with(|c| c.set(std::ptr::null_mut()));
        let refs: Vec<c_int> = load.functions.iter().map(|f| f.fref).collect();
        let err = match r {
            Err(e) => Some(format!(
                "ERR Error registering functions: {}",
                one_line(&e.to_string())
            )),
            Ok(()) if err.is_none() && refs.is_empty() => {
                Some("ERR No functions registered".into())
            }
            Ok(()) => err,
        };
        if let Some(e) = err {
            self.unref(&refs);
            return Err(e);
        }
        let functions = load
            .functions
            .into_iter()
            .map(|f| FunctionInfo {
                name: f.name,
                description: f.description,
                flags: f.flags,
            })
            .collect();
        Ok((
            Library {
                name,
                code: Bytes::copy_from_slice(code),
                functions,
            },
            refs,
        ))
    }
}

/// The globals proxy is empty by design; `rawset(_G, ...)` can still put
/// keys in it. Drop them so nothing leaks into the next script.
unsafe fn clear_rawset_globals(l: *mut lua_State) {
    loop {
        ffi::lua_pushnil(l);
        if ffi::lua_next(l, ffi::LUA_GLOBALSINDEX) == 0 {
            break;
        }
        ffi::lua_settop(l, -2);
        ffi::lua_pushnil(l);
        ffi::lua_rawset(l, ffi::LUA_GLOBALSINDEX);
    }
}

/// Points the functions' environment at the registry table `which`.
unsafe fn set_function_globals(l: *mut lua_State, which: &CStr) {
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, REG_FMETA.as_ptr());
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, which.as_ptr());
    ffi::lua_setfield(l, -2, c"__index".as_ptr());
    ffi::lua_settop(l, -2);
}

/// `t[name] = v` without metamethods, for the table below the value on top.
unsafe fn set_raw(l: *mut lua_State, name: &CStr) {
    ffi::lua_pushstring(l, name.as_ptr());
    ffi::lua_insert(l, -2);
    ffi::lua_rawset(l, -3);
}

unsafe fn push_strings(l: *mut lua_State, items: &[Bytes]) {
    ffi::lua_createtable(l, items.len() as c_int, 0);
    for (i, it) in items.iter().enumerate() {
        push_bytes(l, it);
        ffi::lua_rawseti(l, -2, i as ffi::lua_Integer + 1);
    }
}

/// The reply for a failed run: `<err> script: <name>, on <source>:<line>.`
unsafe fn error_reply(l: *mut lua_State, name: &str) -> Reply {
    if ffi::lua_type(l, -1) != ffi::LUA_TTABLE {
        let msg: String = api::tostring(l, -1).chars().take(100).collect();
        return Reply::error(one_line(&format!("ERR Error running script {name}, {msg}")));
    }
    let field = |f: &CStr| {
        ffi::lua_getfield(l, -1, f.as_ptr());
        let v = (ffi::lua_isstring(l, -1) != 0)
            .then(|| String::from_utf8_lossy(to_bytes(l, -1).unwrap_or(b"")).into_owned());
        ffi::lua_settop(l, -2);
        v
    };
    // Redis 7.0.15 crashes on `error({})`; answer something instead.
    let mut text = field(c"err").unwrap_or_else(|| "ERR unknown error".into());
    if let (Some(source), Some(line)) = (field(c"source"), field(c"line")) {
        text.push_str(&format!(" script: {name}, on {source}:{line}."));
    }
    Reply::error(one_line(&text))
}

fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}
