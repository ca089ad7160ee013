//! SLOWLOG: the commands that ran longer than `slowlog-log-slower-than`
//! microseconds. Each core keeps the entries of the commands it ran
//! (newest first, at most `slowlog-max-len`); one process-wide counter
//! numbers them, so SLOWLOG GET merges the cores' logs by id into Redis's
//! single newest-first list.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::server::{help, sub_arity};
use super::{arg_range, flags, ClientRef, Spec};
use crate::config::{self, Opt};
use crate::protocol::errors;
use crate::protocol::Reply;
use crate::runtime;

type Fut = std::pin::Pin<Box<dyn std::future::Future<Output = Reply>>>;

/// Redis's SLOWLOG_ENTRY_MAX_ARGC and SLOWLOG_ENTRY_MAX_STRING.
const MAX_ARGC: usize = 32;
const MAX_STRING: usize = 128;

#[derive(Clone)]
struct Entry {
    id: u64,
    unix_secs: i64,
    micros: u64,
    args: Vec<Bytes>,
    addr: String,
    name: String,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static LOG: RefCell<VecDeque<Entry>> = const { RefCell::new(VecDeque::new()) };
}

/// Whether a command that took `micros` is logged: one relaxed load and
/// a comparison, so the common case costs nothing more.
#[inline]
pub fn is_slow(micros: u64) -> bool {
    let threshold = config::num(Opt::SlowlogLogSlowerThan);
    threshold >= 0 && micros as i64 >= threshold
}

/// Logs a command that took `micros` if it is slow enough (Redis's
/// slowlogPushCurrentCommand). `who` gives the client's address and name,
/// asked only when the entry is made.
#[inline]
pub fn check(micros: u64, spec: &Spec, args: &[Bytes], who: impl FnOnce() -> (String, String)) {
    if is_slow(micros) && spec.flags & (flags::SKIP_SLOWLOG | flags::BLOCKING) == 0 {
        push(micros, args, who());
    }
}

/// `check` for a client on this core.
pub fn check_client(micros: u64, spec: &Spec, args: &[Bytes], client: &ClientRef) {
    check(micros, spec, args, || {
        let c = client.borrow();
        (c.addr.clone(), c.name.clone())
    });
}

#[cold]
fn push(micros: u64, args: &[Bytes], (addr, name): (String, String)) {
    let max = config::num(Opt::SlowlogMaxLen).max(0) as usize;
    let entry = Entry {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        unix_secs: crate::storage::now_ms() / 1000,
        micros,
        args: logged_args(args),
        addr,
        name,
    };
    LOG.with(|l| {
        let mut l = l.borrow_mut();
        l.push_front(entry);
        l.truncate(max);
    });
}

/// The arguments as Redis logs them: secrets redacted, at most 32 (the
/// last telling how many more there were), each at most 128 bytes.
fn logged_args(args: &[Bytes]) -> Vec<Bytes> {
    let shown = args.len().min(MAX_ARGC);
    (0..shown)
        .map(|i| {
            if shown != args.len() && i == shown - 1 {
                Bytes::from(format!("... ({} more arguments)", args.len() - shown + 1))
            } else if redacted(args, i) {
                Bytes::from_static(b"(redacted)")
            } else if args[i].len() > MAX_STRING {
                let mut s = args[i][..MAX_STRING].to_vec();
                let more = format!("... ({} more bytes)", args[i].len() - MAX_STRING);
                s.extend_from_slice(more.as_bytes());
                Bytes::from(s)
            } else {
                args[i].clone()
            }
        })
        .collect()
}

/// Whether argument `i` is a secret Redis 7.0 hides from SLOWLOG and
/// MONITOR (redactClientCommandArgument): AUTH's arguments, HELLO's AUTH
/// pair, MIGRATE's AUTH/AUTH2 credentials, ACL SETUSER's arguments and
/// the values of sensitive configs in CONFIG SET.
pub fn redacted(args: &[Bytes], i: usize) -> bool {
    let is = |j: usize, w: &str| args.get(j).is_some_and(|a| super::is(a, w));
    let name = &args[0];
    if super::is(name, "auth") {
        return i >= 1;
    }
    if super::is(name, "hello") {
        return (2..args.len())
            .any(|j| is(j, "auth") && (i == j + 1 || i == j + 2) && j + 2 < args.len());
    }
    if super::is(name, "migrate") {
        return (6..args.len()).any(|j| {
            (is(j, "auth") && i == j + 1) || (is(j, "auth2") && (i == j + 1 || i == j + 2))
        });
    }
    if super::is(name, "acl") {
        return is(1, "setuser") && i >= 2;
    }
    if super::is(name, "config") && is(1, "set") && i >= 3 && (i - 2) % 2 == 1 {
        let param = &args[i - 1];
        return ["masterauth", "masteruser", "requirepass"]
            .iter()
            .any(|p| super::is(param, p));
    }
    false
}

const SLOWLOG_HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
];

pub fn slowlog(_: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        let n = args.len();
        let sub = args[1].to_ascii_lowercase();
        let fixed = |name: &str| sub_arity("slowlog", name, n);
        match sub.as_slice() {
            b"get" if n > 3 => errors::sub_wrong_args("slowlog", &args[1]),
            b"get" => {
                let count = match args.get(2) {
                    None => 10,
                    Some(a) => match arg_range(a, -1, i64::MAX, Some(COUNT_ERR)) {
                        Ok(-1) => i64::MAX,
                        Ok(c) => c,
                        Err(e) => return e,
                    },
                };
                get(count as usize).await
            }
            b"len" => match fixed("len") {
                Some(e) => e,
                None => Reply::Int(len().await as i64),
            },
            b"reset" => match fixed("reset") {
                Some(e) => e,
                None => {
                    runtime::gather(0..runtime::shards(), || {
                        LOG.with(|l| l.borrow_mut().clear())
                    })
                    .await;
                    Reply::Ok
                }
            },
            b"help" => fixed("help").unwrap_or_else(|| help(SLOWLOG_HELP)),
            _ => errors::unknown_subcommand("slowlog", &args[1]),
        }
    })
}

const COUNT_ERR: &str = "ERR count should be greater than or equal to -1";

/// The newest `count` entries of all cores, newest first.
async fn get(count: usize) -> Reply {
    let count = count.min(config::num(Opt::SlowlogMaxLen).max(0) as usize);
    let per_core = runtime::gather(0..runtime::shards(), move || {
        LOG.with(|l| l.borrow().iter().take(count).cloned().collect::<Vec<_>>())
    })
    .await;
    let mut all: Vec<Entry> = per_core.into_iter().flatten().collect();
    all.sort_unstable_by_key(|e| std::cmp::Reverse(e.id));
    all.truncate(count);
    Reply::Array(
        all.into_iter()
            .map(|e| {
                Reply::Array(vec![
                    Reply::Int(e.id as i64),
                    Reply::Int(e.unix_secs),
                    Reply::Int(e.micros as i64),
                    Reply::Array(e.args.into_iter().map(Reply::Bulk).collect()),
                    Reply::bulk(e.addr),
                    Reply::bulk(e.name),
                ])
            })
            .collect(),
    )
}

async fn len() -> usize {
    let lens = runtime::gather(0..runtime::shards(), || LOG.with(|l| l.borrow().len())).await;
    let max = config::num(Opt::SlowlogMaxLen).max(0) as usize;
    lens.into_iter().sum::<usize>().min(max)
}

pub fn register(t: &mut Vec<Spec>) {
    use flags::*;
    t.push(super::spec(
        "slowlog",
        -2,
        ADMIN | LOADING | STALE,
        (0, 0, 0),
        super::Handler::Coord(slowlog),
        super::Cross::Never,
        "server",
        "A container for slow log commands.",
        "2.2.12",
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<Bytes> {
        v.iter().map(|s| Bytes::from(s.to_string())).collect()
    }

    #[test]
    fn truncation_as_redis() {
        let many: Vec<String> = (0..40).map(|i| i.to_string()).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let got = logged_args(&args(&many));
        assert_eq!(got.len(), 32);
        assert_eq!(&got[31][..], b"... (9 more arguments)");
        let long = "x".repeat(200);
        let got = logged_args(&args(&["set", "k", &long]));
        assert_eq!(got[2].len(), 128 + "... (72 more bytes)".len());
        assert!(got[2].ends_with(b"... (72 more bytes)"));
    }

    #[test]
    fn secrets_redacted() {
        let a = args(&["hello", "3", "auth", "u", "p"]);
        assert_eq!(
            (0..5).filter(|&i| redacted(&a, i)).collect::<Vec<_>>(),
            [3, 4]
        );
        let a = args(&["config", "set", "maxmemory", "0", "requirepass", "x"]);
        assert_eq!((0..6).filter(|&i| redacted(&a, i)).collect::<Vec<_>>(), [5]);
        let a = args(&["migrate", "h", "1", "k", "0", "10", "auth", "pw"]);
        assert_eq!((0..8).filter(|&i| redacted(&a, i)).collect::<Vec<_>>(), [7]);
    }
}
