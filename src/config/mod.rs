//! Configuration: redis.conf syntax, command-line overrides, and the live
//! values that CONFIG GET/SET/REWRITE read and change.
//!
//! Values live in one process-wide store. Numeric options are mirrored in
//! atomics so the data path can read them without a lock.

mod options;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{OnceLock, RwLock};

pub use options::{
    events, parse_memory, save_params, Kind, Opt, OptDef, ALIASES, LOGLEVELS, ONLY_DEFAULT,
    OPTIONS, POLICIES,
};

use crate::protocol::inline::split_args;

/// The live values of every option.
pub struct Store {
    text: RwLock<Vec<String>>,
    nums: Vec<AtomicI64>,
    file: Option<PathBuf>,
}

static STORE: OnceLock<Store> = OnceLock::new();

fn store() -> &'static Store {
    STORE.get_or_init(|| Store::defaults(None))
}

impl Store {
    fn defaults(file: Option<PathBuf>) -> Store {
        let mut text = Vec::new();
        let mut nums = Vec::new();
        for o in OPTIONS {
            let args: Vec<String> = match o.kind {
                k if k.is_words() => o.default.split(' ').map(String::from).collect(),
                _ => vec![o.default.to_string()],
            };
            let (t, n) = options::parse_value(o, &args).expect("default parses");
            text.push(t);
            nums.push(AtomicI64::new(n));
        }
        Store {
            text: RwLock::new(text),
            nums,
            file,
        }
    }
}

/// A numeric (or bool/enum index) option's value.
#[inline]
pub fn num(opt: Opt) -> i64 {
    store().nums[opt as usize].load(Ordering::Relaxed)
}

/// `notify-keyspace-events` as its class bits, mirrored here so that a
/// command checks it with one load (every write asks).
static NOTIFY_FLAGS: AtomicU32 = AtomicU32::new(0);

#[inline]
pub fn notify_flags() -> u32 {
    NOTIFY_FLAGS.load(Ordering::Relaxed)
}

/// An option's value as CONFIG GET shows it.
pub fn text(opt: Opt) -> String {
    store().text.read().unwrap()[opt as usize].clone()
}

fn text_at(idx: usize) -> String {
    store().text.read().unwrap()[idx].clone()
}

/// Client classes of `client-output-buffer-limit`.
#[derive(Debug, Clone, Copy)]
pub enum OutputClass {
    Normal = 0,
    Replica = 1,
    Pubsub = 2,
}

/// `[hard, soft, seconds]` per class, kept as numbers so the check on
/// every queued push is three loads.
static OUTPUT_LIMITS: [AtomicU64; 9] = [
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(268435456),
    AtomicU64::new(67108864),
    AtomicU64::new(60),
    AtomicU64::new(33554432),
    AtomicU64::new(8388608),
    AtomicU64::new(60),
];

/// A class's output buffer limit: (hard bytes, soft bytes, soft seconds).
pub fn output_limit(class: OutputClass) -> (u64, u64, u64) {
    let i = class as usize * 3;
    let l = |j: usize| OUTPUT_LIMITS[i + j].load(Ordering::Relaxed);
    (l(0), l(1), l(2))
}

/// The config file the server was started with.
pub fn file() -> Option<PathBuf> {
    store().file.clone()
}

/// Sets option number `idx` from `args`, applying side effects (`dir`).
/// `from_client` refuses immutable options, as CONFIG SET does.
pub fn set(idx: usize, args: &[String], from_client: bool) -> Result<(), String> {
    let def = &OPTIONS[idx];
    if from_client && !def.mutable {
        return Err("can't set immutable config".into());
    }
    // As Redis's multi-argument options: one quoted argument holds the
    // words (`--client-output-buffer-limit "normal 4mb 0 0"`).
    let words: Vec<String>;
    let args = match args {
        [one] if def.kind.is_words() => {
            words = one.split(' ').map(String::from).collect();
            &words[..]
        }
        _ => args,
    };
    let (t, n) = if let Kind::OutputLimits = def.kind {
        // Classes not named keep their current limits.
        let mut words: Vec<String> = text_at(idx).split(' ').map(String::from).collect();
        words.extend_from_slice(args);
        let (t, n) = options::parse_value(def, &words)?;
        let limits = options::output_limits(&t.split(' ').map(String::from).collect::<Vec<_>>())?;
        for (cell, v) in OUTPUT_LIMITS.iter().zip(limits.iter().flatten()) {
            cell.store(*v, Ordering::Relaxed);
        }
        (t, n)
    } else {
        options::parse_value(def, args)?
    };
    if let Some((_, what)) = ONLY_DEFAULT.iter().find(|(n, _)| *n == def.name) {
        if t != def.default {
            return Err(format!(
                "Redwing does not support {what}; only '{}' is accepted",
                def.default
            ));
        }
    }
    let mut t = t;
    if def.name == "dir" {
        std::env::set_current_dir(&t).map_err(|e| e.to_string())?;
        // Shown as the absolute working directory, as Redis's getcwd().
        if let Ok(cwd) = std::env::current_dir() {
            t = cwd.display().to_string();
        }
    }
    store().text.write().unwrap()[idx] = t;
    store().nums[idx].store(n, Ordering::Relaxed);
    if idx == Opt::Requirepass as usize {
        crate::acl::set_requirepass(&store().text.read().unwrap()[idx]);
    }
    if idx == Opt::NotifyKeyspaceEvents as usize {
        NOTIFY_FLAGS.store(n as u32, Ordering::Relaxed);
    }
    if from_client && (idx == Opt::OomScoreAdj as usize || idx == Opt::OomScoreAdjValues as usize) {
        crate::lifecycle::apply_oom_score_adj()?;
    }
    Ok(())
}

/// `(name, value)` pairs of the options whose name matches `pattern`;
/// older names match too and show their option's value, as in Redis 7.0.
pub fn matching(pattern: &[u8]) -> Vec<(&'static str, String)> {
    let text = store().text.read().unwrap();
    let names = OPTIONS.iter().enumerate().map(|(i, o)| (o.name, i));
    let aliases = ALIASES
        .iter()
        .filter_map(|(old, new)| Some((*old, Opt::by_name(new)?)));
    names
        .chain(aliases)
        .filter(|(name, _)| crate::glob::matches(pattern, name.as_bytes(), true))
        .map(|(name, i)| (name, text[i].clone()))
        .collect()
}

/// A config file problem, shown as Redis shows it, naming file and line.
#[derive(Debug)]
pub struct ConfigError {
    pub source: String,
    pub line: usize,
    pub text: String,
    pub msg: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\n*** FATAL CONFIG FILE ERROR (Redis {}) ***\nReading the configuration file {}, at line {}\n>>> '{}'\n{}",
            crate::commands::server::REDIS_VERSION,
            self.source,
            self.line,
            self.text,
            self.msg
        )
    }
}

/// Loads the file (if any), then the command-line lines, into the store.
pub fn load(file: Option<&Path>, cmdline: &str) -> Result<(), ConfigError> {
    let file = file.map(|f| std::fs::canonicalize(f).unwrap_or_else(|_| f.to_path_buf()));
    let fresh = Store::defaults(file.clone());
    // The store may already hold defaults if something read it early; start clean.
    if STORE.set(fresh).is_err() {
        let d = Store::defaults(file.clone());
        *store().text.write().unwrap() = d.text.into_inner().unwrap();
        for (a, b) in store().nums.iter().zip(d.nums) {
            a.store(b.into_inner(), Ordering::Relaxed);
        }
    }
    NOTIFY_FLAGS.store(num(Opt::NotifyKeyspaceEvents) as u32, Ordering::Relaxed);
    SAVE_SEEN.store(false, Ordering::Relaxed);
    if crate::sentinel::enabled() {
        // Redis's initSentinelConfig: port 26379, reachable from outside;
        // a sentinel keeps no dataset.
        apply_text("(sentinel)", SENTINEL_DEFAULTS, 0)?;
        SAVE_SEEN.store(false, Ordering::Relaxed);
    }
    if let Some(f) = &file {
        let body = std::fs::read_to_string(f).map_err(|e| ConfigError {
            source: f.display().to_string(),
            line: 0,
            text: String::new(),
            msg: format!("Fatal error, can't open config file '{}': {e}", f.display()),
        })?;
        apply_text(&f.display().to_string(), &body, 0)?;
    }
    apply_text("(command line)", cmdline, 0)?;
    if text(Opt::Dir) == "." {
        let _ = set(Opt::Dir as usize, &[".".into()], false);
    }
    // As Redis: a daemon without a pidfile still writes the default one.
    if num(Opt::Daemonize) == 1 && text(Opt::Pidfile).is_empty() {
        let _ = set(Opt::Pidfile as usize, &[DEFAULT_PIDFILE.into()], false);
    }
    Ok(())
}

const SENTINEL_DEFAULTS: &str = "port 26379\nprotected-mode no\nsave \"\"\nappendonly no\n";

/// Redis's CONFIG_DEFAULT_PID_FILE.
const DEFAULT_PIDFILE: &str = "/var/run/redis.pid";

/// The files an `include` names: the path itself, or, when its file name
/// has wildcards, the matching files in alphabetical order (none is fine,
/// as in Redis 7.0).
fn include_files(path: &str) -> Result<Vec<PathBuf>, String> {
    let p = Path::new(path);
    let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
    let Some(name) = name.filter(|n| n.contains(['*', '?', '['])) else {
        return Ok(vec![p.to_path_buf()]);
    };
    let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    let mut found: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter(|e| {
                crate::glob::matches(name.as_bytes(), e.file_name().as_encoded_bytes(), false)
            })
            .map(|e| e.path())
            .collect(),
        Err(_) => Vec::new(),
    };
    found.sort();
    Ok(found)
}

/// Directives that are not options, and why Redwing refuses them.
fn refused_directive(name: &str) -> Option<&'static str> {
    Some(match name {
        "loadmodule" => "Redwing does not load Redis modules",
        "rename-command" => "Redwing does not rename commands",
        "sentinel" => "sentinel directives need sentinel mode (--sentinel)",
        _ => return None,
    })
}

fn apply_text(source: &str, body: &str, depth: usize) -> Result<(), ConfigError> {
    for (i, raw) in body.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |msg: String| ConfigError {
            source: source.to_string(),
            line: i + 1,
            text: line.to_string(),
            msg,
        };
        let args = split_args(line.as_bytes())
            .ok_or_else(|| err("Unbalanced quotes in configuration line".into()))?;
        let args: Vec<String> = args
            .into_iter()
            .map(|a| String::from_utf8_lossy(&a).into_owned())
            .collect();
        let name = args[0].to_ascii_lowercase();
        if name == "include" && args.len() == 2 {
            if depth > 16 {
                return Err(err("include nested too deep".into()));
            }
            for f in include_files(&args[1]).map_err(err)? {
                let inc = std::fs::read_to_string(&f)
                    .map_err(|e| err(format!("can't open '{}': {e}", f.display())))?;
                apply_text(&f.display().to_string(), &inc, depth + 1)?;
            }
            continue;
        }
        if name == "sentinel" && crate::sentinel::enabled() {
            crate::sentinel::config::line(&args[1..]).map_err(err)?;
            continue;
        }
        if name == "user" {
            crate::acl::file::config_line(&args[1..]).map_err(err)?;
            continue;
        }
        if let Some(why) = refused_directive(&name) {
            return Err(err(why.into()));
        }
        let idx = Opt::by_name(&name)
            .ok_or_else(|| err("Bad directive or wrong number of arguments".into()))?;
        if args.len() < 2 {
            return Err(err("Bad directive or wrong number of arguments".into()));
        }
        let mut vals = args[1..].to_vec();
        // Redis 7.0: the `save` lines of a config add up (the first one
        // replaces the default); `save ""` clears them.
        if idx == Opt::Save as usize
            && SAVE_SEEN.swap(true, Ordering::Relaxed)
            && vals.iter().any(|v| !v.is_empty())
        {
            let before = text_at(idx);
            vals.splice(0..0, before.split_whitespace().map(String::from));
        }
        set(idx, &vals, false).map_err(err)?;
    }
    Ok(())
}

/// A `save` line was read in this load (later ones append to it).
static SAVE_SEEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The result of reading argv the way redis-server does.
#[derive(Debug, Default, PartialEq)]
pub struct Cmdline {
    pub file: Option<PathBuf>,
    /// `--name value ...` options turned into config lines.
    pub lines: String,
    pub sentinel: bool,
    pub version: bool,
    pub help: bool,
    pub check_system: bool,
}

/// `redwing-server [file] [--opt val ...]`, as redis-server reads it.
pub fn parse_cmdline(args: &[String]) -> Cmdline {
    let mut c = Cmdline::default();
    let mut rest = args;
    if let Some(first) = rest.first() {
        match first.as_str() {
            "-v" | "--version" => c.version = true,
            "-h" | "--help" => c.help = true,
            _ if !first.starts_with("--") => {
                c.file = Some(PathBuf::from(first));
                rest = &rest[1..];
            }
            _ => {}
        }
    }
    let mut line: Vec<String> = Vec::new();
    let flush = |line: &mut Vec<String>, out: &mut String| {
        if !line.is_empty() {
            out.push_str(&line.join(" "));
            out.push('\n');
            line.clear();
        }
    };
    for a in rest {
        if let Some(name) = a.strip_prefix("--") {
            flush(&mut line, &mut c.lines);
            match name {
                "sentinel" => c.sentinel = true,
                "check-system" => c.check_system = true,
                "version" => c.version = true,
                "help" => c.help = true,
                _ => line.push(name.to_string()),
            }
        } else {
            line.push(quote(a));
        }
    }
    flush(&mut line, &mut c.lines);
    c
}

/// Quotes a value so that split_args gives it back unchanged.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\')
    {
        return s.to_string();
    }
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\r' => q.push_str("\\r"),
            '\t' => q.push_str("\\t"),
            c if (c as u32) < 0x20 => q.push_str(&format!("\\x{:02x}", c as u32)),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// CONFIG REWRITE: keeps the file's comments and order, replaces the lines
/// of options that are set, drops their repeats, and appends options that
/// differ from their defaults. Written to a temp file and renamed.
pub fn rewrite() -> Result<(), String> {
    let Some(path) = file() else {
        return Err("The server is running without a config file".into());
    };
    let body = std::fs::read_to_string(&path).unwrap_or_default();
    let text = store().text.read().unwrap().clone();
    let mut done = vec![false; OPTIONS.len()];
    let mut out = String::new();
    let show = |i: usize| -> String {
        match OPTIONS[i].kind {
            // An empty list (`save ""`) must stay a quoted empty word.
            k if k.is_words() && text[i].is_empty() => format!("{} \"\"", OPTIONS[i].name),
            k if k.is_words() => format!("{} {}", OPTIONS[i].name, text[i]),
            _ => format!("{} {}", OPTIONS[i].name, quote(&text[i])),
        }
    };
    for raw in body.lines() {
        let line = raw.trim();
        let name = split_args(line.as_bytes())
            .and_then(|a| a.into_iter().next())
            .map(|n| String::from_utf8_lossy(&n).to_ascii_lowercase());
        match name.as_deref().and_then(Opt::by_name) {
            Some(i) if !line.starts_with('#') => {
                if !done[i] {
                    done[i] = true;
                    out.push_str(&show(i));
                    out.push('\n');
                }
            }
            _ => {
                out.push_str(raw);
                out.push('\n');
            }
        }
    }
    let mut header = false;
    for (i, o) in OPTIONS.iter().enumerate() {
        let default = options::parse_value(
            o,
            &o.default.split(' ').map(String::from).collect::<Vec<_>>(),
        )
        .or_else(|_| options::parse_value(o, &[o.default.to_string()]))
        .map(|(t, _)| t)
        .unwrap_or_default();
        if !done[i] && text[i] != default {
            if !header {
                out.push_str("# Generated by CONFIG REWRITE\n");
                header = true;
            }
            out.push_str(&show(i));
            out.push('\n');
        }
    }
    let tmp = path.with_extension("rewrite.tmp");
    std::fs::write(&tmp, out).map_err(|e| format!("Rewriting config file: {e}"))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("Rewriting config file: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn cmdline_like_redis_server() {
        let c = parse_cmdline(&s(&[
            "redis.conf",
            "--port",
            "7000",
            "--bind",
            "127.0.0.1",
            "::1",
            "--save",
            "",
        ]));
        assert_eq!(c.file, Some(PathBuf::from("redis.conf")));
        assert_eq!(c.lines, "port 7000\nbind 127.0.0.1 ::1\nsave \"\"\n");
        let c = parse_cmdline(&s(&["--port", "1", "--sentinel"]));
        assert_eq!(c.file, None);
        assert!(c.sentinel);
    }

    #[test]
    fn quote_round_trips() {
        for v in ["", "a b", "x\"y", "back\\slash", "plain"] {
            let q = quote(v);
            let back = split_args(q.as_bytes()).unwrap();
            assert_eq!(back, vec![v.as_bytes().to_vec()], "{q}");
        }
    }
}
