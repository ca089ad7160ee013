//! MONITOR: every command the server runs, from every core, as Redis's
//! status lines `+1339518083.107412 [0 127.0.0.1:60866] "keys" "*"`.
//!
//! Monitors are listed on their own core; a per-core count lets a core
//! that feeds a line skip the cores without any, and a process-wide count
//! makes the common case (nobody monitors) one load. Lines for other cores
//! leave through this core's outbox (`runtime::outbox`), in order.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

use super::{flags, ClientState, Spec};
use crate::protocol::Reply;
use crate::runtime;
use crate::storage::evict::MAX_CORES;

/// Monitors connected, all cores.
static TOTAL: AtomicUsize = AtomicUsize::new(0);
/// Monitors connected, per core.
static PER_CORE: [AtomicUsize; MAX_CORES] = [const { AtomicUsize::new(0) }; MAX_CORES];

thread_local! {
    /// This core's monitors (client ids).
    static LOCAL: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
    static OUTBOX: runtime::outbox::Outbox<Bytes> = const { runtime::outbox::Outbox::new() };
}

/// Whether anyone monitors: one relaxed load.
#[inline]
pub fn active() -> bool {
    TOTAL.load(Ordering::Relaxed) != 0
}

/// MONITOR: this client gets every command from now on.
pub fn monitor(c: &mut ClientState, _: &[Bytes]) -> Reply {
    if c.multi.is_some() || c.in_exec {
        return Reply::error("ERR MONITOR isn't allowed for DENY BLOCKING client");
    }
    if !c.monitor {
        c.monitor = true;
        LOCAL.with(|l| l.borrow_mut().push(c.id));
        PER_CORE[runtime::me()].fetch_add(1, Ordering::Relaxed);
        TOTAL.fetch_add(1, Ordering::Relaxed);
    }
    Reply::Ok
}

/// Ends monitor mode (RESET, disconnect).
pub fn stop(c: &mut ClientState) {
    if c.monitor {
        c.monitor = false;
        LOCAL.with(|l| l.borrow_mut().retain(|&id| id != c.id));
        PER_CORE[runtime::me()].fetch_sub(1, Ordering::Relaxed);
        TOTAL.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether Redis 7.0 shows this command to monitors: not admin commands
/// (judged by the subcommand for containers).
pub fn shown(spec: &Spec, args: &[Bytes]) -> bool {
    let sub = args
        .get(1)
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase());
    let sub_flags = sub
        .as_deref()
        .and_then(|s| crate::acl::category::sub_flags(&format!("{}|{s}", spec.name)));
    let f = sub_flags.unwrap_or(spec.flags);
    f & flags::ADMIN == 0
}

/// Feeds one command to every monitor (Redis's replicationFeedMonitors).
/// `who` is the client's address, or "lua" for a script's call.
#[cold]
pub fn feed(db: usize, who: &str, args: &[Bytes]) {
    let line = Bytes::from(line(db, who, args));
    deliver(&line);
    let me = runtime::me();
    if !(0..runtime::shards()).any(|c| c != me && PER_CORE[c].load(Ordering::Relaxed) != 0) {
        return;
    }
    runtime::outbox::send(&OUTBOX, line, peers, deliver);
}

/// Other cores with monitors.
fn peers() -> Vec<usize> {
    let me = runtime::me();
    (0..runtime::shards())
        .filter(|&c| c != me && PER_CORE[c].load(Ordering::Relaxed) != 0)
        .collect()
}

/// Pushes a line to this core's monitors.
fn deliver(line: &Bytes) {
    let ids = LOCAL.with(|l| l.borrow().clone());
    let status = Reply::Status(String::from_utf8_lossy(line).into_owned().into());
    for id in ids {
        super::client::with_local(id, |c| c.push(&status));
    }
}

/// `1339518083.107412 [0 127.0.0.1:60866] "keys" "*"` (without the `+`).
fn line(db: usize, who: &str, args: &[Bytes]) -> Vec<u8> {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // A unix socket client shows as `unix:<path>`.
    let who = match who.strip_suffix(":0") {
        Some(path) if who.starts_with('/') => format!("unix:{path}"),
        _ => who.to_string(),
    };
    let mut out = format!("{}.{:06} [{db} {who}]", t.as_secs(), t.subsec_micros()).into_bytes();
    for (i, a) in args.iter().enumerate() {
        out.push(b' ');
        if super::slowlog::redacted(args, i) {
            repr(&mut out, b"(redacted)");
        } else {
            repr(&mut out, a);
        }
    }
    out
}

/// Redis's sdscatrepr: a quoted string with C escapes.
fn repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

pub fn register(t: &mut Vec<Spec>) {
    use flags::*;
    t.push(super::spec(
        "monitor",
        1,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        super::Handler::Conn(monitor),
        super::Cross::Never,
        "server",
        "Listen for all requests received by the server in real time.",
        "1.0.0",
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_as_sdscatrepr() {
        let mut out = Vec::new();
        repr(&mut out, b"a b\"\\n\x01\t\xff");
        assert_eq!(out, b"\"a b\\\"\\\\n\\x01\\t\\xff\"".to_vec());
    }
}
