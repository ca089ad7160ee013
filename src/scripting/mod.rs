//! Lua scripting: EVAL scripts and FUNCTION libraries, as Redis 7.0 runs them.
//!
//! One [`Engine`] per core (it owns a Lua 5.1 state and is `!Send`); all
//! engines share one [`Store`] (script bodies by SHA1, function libraries),
//! so a script loaded on one core runs on every core. The engine never touches
//! the keyspace itself: every `redis.call` goes to the [`Host`] the caller
//! passes in, which routes it. See docs/scripting.md for the contract.

mod api;
mod bit;
mod cjson;
mod cmsgpack;
mod convert;
mod engine;
mod functions;
mod raw;
mod shebang;
mod store;
mod structlib;

use std::time::Duration;

use bytes::Bytes;

use crate::protocol::Reply;

pub use engine::Engine;
pub use functions::{FunctionInfo, Library, RestorePolicy};
pub use shebang::{parse_shebang, ScriptFlags};
pub use store::Store;

/// What a running script can ask of the server. Called synchronously from
/// inside Lua, on the engine's thread.
pub trait Host {
    /// Runs one command for `redis.call` / `redis.pcall`. `resp3` is the
    /// protocol the script selected with `redis.setresp` (2 unless it asked
    /// for 3); commands whose reply shape depends on it should use it. Errors
    /// for script-only rules are the host's: [`UNKNOWN_COMMAND`],
    /// [`WRONG_ARITY`], [`WRITE_IN_READONLY`] ...
    fn call(&mut self, args: &[Bytes], resp3: bool) -> Reply;
    /// Whether the client that runs the script speaks RESP3 (big numbers and
    /// non-`txt` verbatim strings in a script's result depend on it).
    fn resp3(&self) -> bool;
    /// Polled about every 100 000 Lua instructions with the time the script
    /// has run. `Some(error text)` stops the script with that error (SCRIPT
    /// KILL, FUNCTION KILL: [`SCRIPT_KILLED`]); it cannot be caught by pcall.
    fn should_abort(&mut self, elapsed: Duration) -> Option<&'static str>;
    /// `redis.log(level, ...)`: level 0 debug .. 3 warning (Redis's LL_*).
    fn log(&mut self, level: i32, msg: &str);
    /// `redis.set_repl(flags)`: bit 1 AOF, bit 2 replicas, for the writes
    /// that follow in this script.
    fn set_repl(&mut self, flags: u8);
}

/// Errors a host returns from `call` as Redis does.
pub const UNKNOWN_COMMAND: &str = "ERR Unknown Redis command called from script";
pub const WRONG_ARITY: &str = "ERR Wrong number of args calling Redis command from script";
pub const WRITE_IN_READONLY: &str = "ERR Write commands are not allowed from read-only scripts.";
/// For commands flagged `noscript` (EVAL, MULTI, WATCH, blocking forms ...).
pub const NOT_ALLOWED: &str = "ERR This Redis command is not allowed from script";
/// The error a killed script ends with (SCRIPT KILL and FUNCTION KILL).
pub const SCRIPT_KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";
pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";
pub const FUNCTION_NOT_FOUND: &str = "ERR Function not found";
pub const RO_WITH_WRITE_FLAG: &str =
    "ERR Can not execute a script with write flag using *_ro command.";

/// `redis.set_repl` flags.
pub const REPL_AOF: u8 = 1;
pub const REPL_REPLICA: u8 = 2;

/// Splits EVAL/FCALL's `numkeys key... arg...` (the arguments after the
/// script or function name) into keys and args, with Redis's errors.
pub fn split_keys(rest: &[Bytes]) -> Result<(&[Bytes], &[Bytes]), Reply> {
    let Some(first) = rest.first() else {
        return Err(crate::protocol::errors::wrong_args("eval"));
    };
    let n = crate::protocol::parse_i64(first)
        .ok_or_else(|| Reply::error(crate::protocol::errors::NOT_INTEGER))?;
    if n < 0 {
        return Err(Reply::error("ERR Number of keys can't be negative"));
    }
    if n as usize > rest.len() - 1 {
        return Err(Reply::error(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let (keys, args) = rest[1..].split_at(n as usize);
    Ok((keys, args))
}

/// SHA1 of a script body, lowercase hex, as SCRIPT LOAD returns it.
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

#[cfg(test)]
mod tests;
