//! The scripting commands' rows: EVAL, EVALSHA, FCALL (and _RO forms),
//! SCRIPT, FUNCTION. The dispatcher runs them (server/script.rs), since a
//! script runs commands itself and may hold several cores.

use super::{flags::*, spec, Cross, Handler, Spec};

pub fn register(t: &mut Vec<Spec>) {
    use Handler::Dispatch;
    const N: (i32, i32, i32) = (0, 0, 0);
    let g = "scripting";
    let ev = NOSCRIPT | SKIP_SLOWLOG | MOVABLE_KEYS | STALE;
    let admin = NOSCRIPT | ALLOW_BUSY;
    t.extend([
        spec(
            "eval",
            -3,
            ev,
            N,
            Dispatch,
            Cross::Never,
            g,
            "Executes a server-side Lua script.",
            "2.6.0",
        ),
        spec(
            "eval_ro",
            -3,
            ev | READONLY,
            N,
            Dispatch,
            Cross::Never,
            g,
            "Executes a read-only server-side Lua script.",
            "7.0.0",
        ),
        spec(
            "evalsha",
            -3,
            ev,
            N,
            Dispatch,
            Cross::Never,
            g,
            "Executes a server-side Lua script by SHA1 digest.",
            "2.6.0",
        ),
        spec(
            "evalsha_ro",
            -3,
            ev | READONLY,
            N,
            Dispatch,
            Cross::Never,
            g,
            "Executes a read-only server-side Lua script by SHA1 digest.",
            "7.0.0",
        ),
        spec(
            "fcall",
            -3,
            ev,
            N,
            Dispatch,
            Cross::Never,
            g,
            "Invokes a function.",
            "7.0.0",
        ),
        spec(
            "fcall_ro",
            -3,
            ev | READONLY,
            N,
            Dispatch,
            Cross::Never,
            g,
            "Invokes a read-only function.",
            "7.0.0",
        ),
        spec(
            "script",
            -2,
            admin,
            N,
            Dispatch,
            Cross::Never,
            g,
            "A container for Lua scripts management commands.",
            "2.6.0",
        ),
        spec(
            "function",
            -2,
            admin,
            N,
            Dispatch,
            Cross::Never,
            g,
            "A container for function commands.",
            "7.0.0",
        ),
    ]);
}
