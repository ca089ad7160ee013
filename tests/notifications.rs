//! Keyspace notifications with real clients: the same command sequence
//! runs against Redwing (two cores, keys on both) and redis-server, and
//! the `__keyspace@*__` / `__keyevent@*__` messages a pattern subscriber
//! receives must match, event for event. Events of one key keep their
//! order; keys on different cores may interleave, so messages are
//! compared per (database, key).
mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use common::*;
use redis::Connection;

/// How long the subscriber waits for more messages before it is done.
const QUIET: Duration = Duration::from_millis(300);

/// A raw RESP2 connection in pattern-subscribed mode.
struct Subscriber {
    r: BufReader<TcpStream>,
}

/// One RESP2 array of bulk strings (a push), or None on a read timeout.
fn read_push(r: &mut BufReader<TcpStream>) -> Option<Vec<String>> {
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let n: usize = line.trim_end().strip_prefix('*')?.parse().ok()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        line.clear();
        r.read_line(&mut line).ok()?;
        let t = line.trim_end();
        if let Some(len) = t.strip_prefix('$') {
            let mut body = vec![0; len.parse::<usize>().ok()? + 2];
            r.read_exact(&mut body).ok()?;
            body.truncate(body.len() - 2);
            out.push(String::from_utf8_lossy(&body).into_owned());
        } else {
            out.push(t[1..].to_string());
        }
    }
    Some(out)
}

impl Subscriber {
    fn new(s: &Server) -> Subscriber {
        Subscriber::on(s.raw())
    }

    /// Pattern-subscribes on `w` (a connection placed on a chosen core).
    fn on(mut w: TcpStream) -> Subscriber {
        w.write_all(b"PSUBSCRIBE __keyspace@*__:* __keyevent@*__:*\r\n")
            .unwrap();
        let mut r = BufReader::new(w);
        for _ in 0..2 {
            let confirm = read_push(&mut r).expect("psubscribe confirmation");
            assert_eq!(confirm[0], "psubscribe");
        }
        Subscriber { r }
    }

    /// Every message until none has come for `QUIET`: (channel, payload).
    fn drain(&mut self) -> Vec<(String, String)> {
        self.r.get_ref().set_read_timeout(Some(QUIET)).unwrap();
        let mut out = Vec::new();
        while let Some(m) = read_push(&mut self.r) {
            assert_eq!(m[0], "pmessage", "{m:?}");
            out.push((m[2].clone(), m[3].clone()));
        }
        out
    }

    /// Every message before a marker published from each of `s`'s cores
    /// (each core's messages reach the subscriber in order, so nothing
    /// published before a marker can come after it): no quiet period to
    /// guess, and a late unwanted message cannot pass as none.
    fn drain_to_markers(&mut self, s: &Server, redwing: bool) -> Vec<(String, String)> {
        for core in 0..2 {
            let mut c = if redwing {
                s.conn_on_core(core)
            } else {
                s.conn()
            };
            q(&mut c, &["PUBLISH", MARKER, &core.to_string()]);
        }
        self.r.get_ref().set_read_timeout(Some(TIMEOUT)).unwrap();
        let (mut out, mut markers) = (Vec::new(), 0);
        while markers < 2 {
            let m = read_push(&mut self.r).expect("the markers");
            assert_eq!(m[0], "pmessage", "{m:?}");
            if m[2] == MARKER {
                markers += 1;
            } else {
                out.push((m[2].clone(), m[3].clone()));
            }
        }
        out
    }
}

/// The channel of the end-of-events markers (the subscriber's patterns
/// match it; no command announces it).
const MARKER: &str = "__keyspace@0__:end-of-events";

/// Messages grouped by the Redwing core that owns their key (or, with
/// `by_key`, by key), each as "<db> <key> K|E <event>" (keyspace or
/// keyevent channel), in arrival order. One core's events reach a
/// subscriber in the order they were emitted; two cores' may interleave.
/// Active expiry visits keys in no fixed order, hence `by_key`.
type Groups = BTreeMap<String, Vec<String>>;

fn group(msgs: &[(String, String)], by_key: bool) -> Groups {
    let mut out = Groups::new();
    for (ch, msg) in msgs {
        let (kind, rest) = if let Some(r) = ch.strip_prefix("__keyspace@") {
            ("K", r)
        } else if let Some(r) = ch.strip_prefix("__keyevent@") {
            ("E", r)
        } else {
            panic!("unexpected channel {ch}");
        };
        let (db, name) = rest.split_once("__:").expect("db and name");
        let (key, event) = if kind == "K" {
            (name, &msg[..])
        } else {
            (&msg[..], name)
        };
        let core = usize::from(redwing::storage::key_slot(key.as_bytes()) >= 8192);
        let name = match by_key {
            true => format!("db {db} key {key}"),
            false => format!("core {core}"),
        };
        out.entry(name)
            .or_default()
            .push(format!("{db} {key} {kind} {event}"));
    }
    out
}

/// The first difference between two cores' sequences, for the panic text.
fn first_difference(want: &Groups, got: &Groups) -> String {
    let none = Vec::new();
    for core in want.keys().chain(got.keys()) {
        let (w, g) = (
            want.get(core).unwrap_or(&none),
            got.get(core).unwrap_or(&none),
        );
        if w != g {
            let i = w.iter().zip(g).take_while(|(a, b)| a == b).count();
            let from = i.saturating_sub(4);
            return format!(
                "{core}, message {i}:\n  redis:   {:#?}\n  redwing: {:#?}",
                &w[from..w.len().min(i + 6)],
                &g[from..g.len().min(i + 6)]
            );
        }
    }
    String::new()
}

/// A command line: words split on spaces, `''` for an empty argument.
fn words(line: &str) -> Vec<String> {
    line.split_whitespace()
        .map(|w| if w == "''" { String::new() } else { w.into() })
        .collect()
}

/// Runs one line: a command, or `WAIT <ms>` to let time pass (Redis
/// refuses DEBUG by default).
fn run(c: &mut Connection, line: &str) -> String {
    if let Some(ms) = line.strip_prefix("WAIT ") {
        thread::sleep(Duration::from_millis(ms.parse().unwrap()));
        return String::new();
    }
    let args = words(line);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    q(c, &refs)
}

/// Where the writer is relative to the subscriber (on redwing's core 0),
/// and the RESP version the writer speaks: each placement once, and each
/// RESP version once.
const RUNS: [(Placement, u8); 2] = [(Placement::SameCore, 2), (Placement::OtherCore, 3)];

/// Runs `setup` with notifications off, then `cmds` with `flags` on both
/// servers, comparing the replies' bytes (the shared comparison), and
/// returns what a pattern subscriber received: (redis, redwing).
fn events(
    p: &Pair,
    flags: &str,
    setup: &[String],
    cmds: &[String],
    by_key: bool,
    (placement, resp): (Placement, u8),
) -> (Groups, Groups) {
    let mut subs = Vec::new();
    for (s, redwing) in [(&p.redis, false), (&p.redwing, true)] {
        let mut c = s.conn();
        run(&mut c, "FLUSHALL");
        run(&mut c, "CONFIG SET notify-keyspace-events ''");
        for line in setup {
            run(&mut c, line);
        }
        subs.push(match redwing {
            true => Subscriber::on(s.raw_on_core(0).into_stream()),
            false => Subscriber::new(s),
        });
        let set = ["CONFIG", "SET", "notify-keyspace-events", flags];
        assert_eq!(q(&mut c, &set), "ok", "CONFIG SET {flags}");
    }
    let mut ours = p.redwing.raw_on_core(placement.core_for(0));
    let mut theirs = RawClient::new(&p.redis);
    for chunk in cmds.split_inclusive(|l| l.starts_with("WAIT ")) {
        let (last, cmds) = chunk.split_last().unwrap();
        let mut lines: Vec<&str> = cmds.iter().map(String::as_str).collect();
        let wait = last.strip_prefix("WAIT ");
        if wait.is_none() {
            lines.push(last);
        }
        let args: Vec<Vec<String>> = lines.iter().map(|l| words(l)).collect();
        let args: Vec<Vec<&str>> = args
            .iter()
            .map(|a| a.iter().map(String::as_str).collect())
            .collect();
        same_as_redis_on(&mut ours, &mut theirs, resp, &slices(&args));
        if let Some(ms) = wait {
            // Time passes, for keys to expire (Redis refuses DEBUG).
            thread::sleep(Duration::from_millis(ms.parse().unwrap()));
        }
    }
    let mut got = Vec::new();
    for ((s, redwing), sub) in [(&p.redis, false), (&p.redwing, true)]
        .into_iter()
        .zip(&mut subs)
    {
        got.push(group(&sub.drain_to_markers(s, redwing), by_key));
        run(&mut s.conn(), "CONFIG SET notify-keyspace-events ''");
    }
    let redwing = got.pop().unwrap();
    (got.pop().unwrap(), redwing)
}

/// The servers a test compares, and key names on each of Redwing's cores.
struct Pair {
    redis: Server,
    redwing: Server,
    names: Vec<(String, String)>,
}

impl Pair {
    fn new() -> Pair {
        let (a, b) = keys_on_two_cores("a");
        let (c, d) = keys_on_two_cores("c");
        let names = ["a", "b", "c", "d"].map(String::from);
        Pair {
            redis: Server::redis(&[]),
            redwing: Server::start(&[]),
            names: names.into_iter().zip([a, b, c, d]).collect(),
        }
    }

    /// Lines with `{a}`..`{d}` replaced: {a}, {c} live on core 0, {b}, {d}
    /// on core 1.
    fn lines(&self, text: &str) -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                let mut l = l.to_string();
                for (n, k) in &self.names {
                    l = l.replace(&format!("{{{n}}}"), k);
                }
                l
            })
            .collect()
    }

    /// Runs the case on both servers and compares the events per core.
    fn check(&self, flags: &str, setup: &str, cmds: &str) {
        self.compare(flags, setup, cmds, false)
    }

    /// [`Pair::check`] comparing per key (when keys expire actively).
    fn check_per_key(&self, flags: &str, setup: &str, cmds: &str) {
        self.compare(flags, setup, cmds, true)
    }

    fn compare(&self, flags: &str, setup: &str, cmds: &str, by_key: bool) {
        let (setup, cmds) = (self.lines(setup), self.lines(cmds));
        for run in RUNS {
            let (want, got) = events(self, flags, &setup, &cmds, by_key, run);
            let published = flags.contains(['K', 'E']);
            assert_eq!(!want.is_empty(), published, "events with {flags}: {cmds:?}");
            if got != want {
                let diff = first_difference(&want, &got);
                let culprit = self.first_differing_command(flags, &setup, &cmds, by_key, run);
                panic!(
                    "events differ for flags {flags}, {run:?}, commands {cmds:#?}\n{diff}\n{culprit}"
                );
            }
        }
    }

    /// Replays the case one command at a time (the earlier ones with
    /// notifications off) to name the first command whose events differ.
    fn first_differing_command(
        &self,
        flags: &str,
        setup: &[String],
        cmds: &[String],
        by_key: bool,
        run: (Placement, u8),
    ) -> String {
        for i in 0..cmds.len() {
            let before: Vec<String> = setup.iter().chain(&cmds[..i]).cloned().collect();
            let one = &cmds[i..=i];
            let (want, got) = events(self, flags, &before, one, by_key, run);
            if got != want {
                return format!(
                    "first differing command: {}\n  redis:   {want:?}\n  redwing: {got:?}",
                    cmds[i]
                );
            }
        }
        "no single command differs".into()
    }
}

#[test]
fn strings() {
    let p = Pair::new();
    p.check(
        "KEA",
        "",
        "SET {a} 1
         SET {a} 2 EX 100
         SET {b} x PX 100000 GET
         SET {b} y KEEPTTL
         SET {c} 1 NX
         SET {c} 2 NX
         SET {c} 3 XX
         SETNX {c} 4
         SETNX {d} 4
         SETEX {d} 100 v
         PSETEX {d} 100000 v
         GETSET {a} 5
         GETSET {d} 6
         GETDEL {a}
         GETDEL {a}
         GETEX {b}
         GETEX {b} EX 100
         GETEX {b} PERSIST
         GETEX {b} PERSIST
         GETEX {b} PXAT 1
         MSET {a} 1 {b} 2 {c} 3
         MSETNX {a} 1 {d} 2
         DEL {a} {b}
         MSETNX {a} 1 {b} 2
         INCR {a}
         INCRBY {a} 5
         DECR {a}
         DECRBY {a} 2
         INCR {d}
         INCRBYFLOAT {a} 1.5
         INCRBYFLOAT new:{c} 2
         APPEND {a} x
         APPEND new:{a} y
         SETRANGE {a} 1 zz
         SETRANGE {a} 0 ''
         SETRANGE new:{b} 2 x
         SETRANGE new:{d} 2 ''
         INCR {c}
         INCR {a}",
    );
}

#[test]
fn new_and_keymiss_classes() {
    let p = Pair::new();
    let cmds = "GET {a}
         SET {a} 1
         SET {a} 2
         GET {a}
         MGET {a} {b} {c}
         STRLEN {d}
         GETRANGE {d} 0 1
         EXISTS {a} {b}
         TYPE {b}
         TTL {b}
         PTTL {a}
         TOUCH {b}
         OBJECT ENCODING {d}
         LRANGE {b} 0 -1
         RPUSH {b} x
         LINDEX {d} 0
         HGET {c} f
         HSET {c} f v
         SMEMBERS {d}
         SISMEMBER {d} x
         SADD {d} x
         ZSCORE {b} m
         ZADD {b} 1 m
         ZRANGE {a} 0 -1
         SINTERSTORE {a} nope:{a} {c}
         ZUNIONSTORE {c} 2 nope:{c} {a}
         COPY nope:{a} {d}
         GETDEL {b}
         LPOP {d}";
    for flags in ["AKEnm", "Kn", "Em", "Knm", "KEA"] {
        p.check(flags, "", cmds);
    }
}

#[test]
fn narrow_classes() {
    let p = Pair::new();
    let setup = "SET {a} 1
         RPUSH {b} 1 2 3
         HSET {c} f 1
         SADD {d} m
         ZADD {a}:z 1 m";
    let cmds = "SET {a} 2 EX 100
         PERSIST {a}
         LPUSH {b} 0
         RPOP {b}
         HINCRBY {c} f 2
         SADD {d} n
         ZINCRBY {a}:z 2 m
         EXPIRE {d} 100
         DEL {b}
         SET x:{a} v PX 20
         SET x:{b} v PX 20";
    for flags in ["Kl", "Ex", "Kg", "E$", "Kh", "Es", "Kz", "KEx", "Ag", "A"] {
        p.check_per_key(flags, setup, &format!("{cmds}\nWAIT 300"));
    }
}

#[test]
fn keys() {
    let p = Pair::new();
    p.check(
        "AKEn",
        "SET {a} 1
         SET {b} 2
         SET {c} 3
         SET {d} 4
         SET e:{a} 5",
        "DEL {a} nope
         UNLINK {b}
         EXPIRE {c} 100
         PEXPIRE {c} 100000 XX
         EXPIRE {c} 100 NX
         EXPIREAT {c} 99999999999
         PEXPIREAT {c} 99999999999999
         PERSIST {c}
         PERSIST {c}
         EXPIRE nope 100
         EXPIRE {d} -1
         SET {a} 1
         RENAME {a} {b}
         RENAME {b} {b}
         SET {a} 9 EX 100
         RENAME {a} {b}
         RENAME {b} {c}
         SET {a} 1
         RENAMENX {a} {c}
         RENAMENX {a} new:{a}
         RENAMENX new:{a} {d}
         COPY {c} {a}
         COPY {c} {a}
         COPY {c} {a} REPLACE
         COPY {c} {b} DB 3
         COPY {c} {d} DB 3 REPLACE
         MOVE {c} 2
         MOVE {a} 2
         SELECT 2
         MOVE {c} 0
         MOVE {c} 4
         SET {b} x
         RENAME {b} {d}
         DEL {d}
         SELECT 0
         FLUSHDB
         SET {a} 1
         FLUSHALL
         SET {b} 1
         SWAPDB 0 1",
    );
}

#[test]
fn lists() {
    let p = Pair::new();
    p.check(
        "AKEn",
        "",
        "LPUSH {a} 1 2 3
         RPUSH {a} 4
         LPUSHX {b} 1
         RPUSHX {a} 5
         LINSERT {a} BEFORE 1 x
         LINSERT {a} BEFORE nope x
         LSET {a} 0 y
         LREM {a} 0 nope
         LREM {a} 1 y
         LTRIM {a} 0 2
         LTRIM {a} 0 100
         LPOP {a}
         RPOP {a} 0
         RPOP {a} 5
         RPOP {a}
         RPUSH {a} 1 2 3
         LMOVE {a} {b} LEFT RIGHT
         LMOVE {a} {c} RIGHT LEFT
         LMOVE {a} {a} LEFT RIGHT
         LMOVE {a} {d} LEFT LEFT
         LMOVE {a} {d} LEFT LEFT
         RPOPLPUSH {d} {d}
         RPOPLPUSH {d} {b}
         RPOPLPUSH {b} {a}
         LMPOP 2 nope {a} LEFT COUNT 5
         LMPOP 2 {b} {c} RIGHT
         LMPOP 1 {c} RIGHT
         RPUSH {a} 1 1 1
         LREM {a} 0 1
         RPUSH {a} 1 2
         LTRIM {a} 5 10
         RPUSH {b} 1 2
         BLPOP {b} 1
         BRPOP {c} {b} 1
         RPUSH {a} 1
         BLMOVE {a} {d} LEFT RIGHT 1
         BLMPOP 1 2 {a} {d} LEFT COUNT 3",
    );
}

#[test]
fn hashes() {
    let p = Pair::new();
    p.check(
        "AKEn",
        "",
        "HSET {a} f 1 g 2
         HSET {a} f 1
         HMSET {b} f 1
         HSETNX {b} f 2
         HSETNX {b} h 2
         HSETNX {c} f 2
         HINCRBY {a} f 5
         HINCRBY {d} f 5
         HINCRBYFLOAT {a} g 1.5
         HINCRBYFLOAT new:{d} g 1.5
         HDEL {a} nope
         HDEL {a} f
         HDEL {a} g nope
         HDEL {b} f h
         HGET {a} f
         HGETALL {c}",
    );
}

#[test]
fn sets() {
    let p = Pair::new();
    p.check(
        "AKEn",
        "",
        "SADD {a} 1 2 3
         SADD {a} 1
         SADD {b} x y
         SREM {a} nope
         SREM {a} 1
         SPOP {a} 0
         SPOP {a} 5
         SADD {a} 1
         SPOP {a}
         SPOP {a}
         SADD {a} 1 2
         SMOVE {a} {b} 1
         SMOVE {a} {b} nope
         SMOVE {a} {c} 2
         SMOVE {b} {b} x
         SADD {d} 1
         SMOVE {d} {c} 1
         SMOVE {b} {c} x
         SADD {a} 1 2 3
         SADD {b} 2 3 4
         SINTERSTORE {c} {a} {b}
         SUNIONSTORE {d} {a} {b}
         SDIFFSTORE {d} {a} {b}
         SDIFFSTORE {d} {a} {a}
         SINTERSTORE {c} {a} nope
         SUNIONSTORE {a}:x {a} {c}
         SINTERSTORE {b} {b} {d}",
    );
}

#[test]
fn zsets() {
    let p = Pair::new();
    p.check(
        "AKEn",
        "",
        "ZADD {a} 1 x 2 y 3 z
         ZADD {a} 1 x
         ZADD {a} XX 5 nope
         ZADD {b} XX 5 nope
         ZADD {a} CH 5 x
         ZADD {a} INCR 1 y
         ZINCRBY {a} 2 z
         ZINCRBY {c} 2 z
         ZADD {a} NX 1 x
         ZADD {a} GT 0 x
         ZREM {a} nope
         ZREM {a} x
         ZADD {a} 1 a 2 b 3 c 4 d
         ZREMRANGEBYSCORE {a} 100 200
         ZREMRANGEBYSCORE {a} 1 1
         ZREMRANGEBYRANK {a} 0 0
         ZREMRANGEBYLEX {a} [c [d
         ZPOPMIN {a}
         ZPOPMAX {a} 0
         ZPOPMAX {a} 10
         ZPOPMIN {a}
         ZADD {a} 1 a 2 b
         ZMPOP 2 nope {a} MIN
         ZMPOP 1 {a} MAX COUNT 5
         ZADD {a} 1 a 2 b 3 c
         ZADD {b} 2 b 3 c 4 d
         ZUNIONSTORE {c} 2 {a} {b}
         ZINTERSTORE {d} 2 {a} {b}
         ZDIFFSTORE {d} 2 {a} {b}
         ZDIFFSTORE {d} 2 {a} {a}
         ZINTERSTORE {c} 2 {a} nope
         ZRANGESTORE {c} {a} 0 1
         ZRANGESTORE {d} {b} 0 -1
         ZRANGESTORE {d} {b} 5 6
         ZRANGESTORE {c} nope 0 1
         BZPOPMIN {a} 1
         BZPOPMAX nope {b} 1
         BZMPOP 1 2 {c} {a} MIN COUNT 10",
    );
}

/// "keymiss" exactly where Redis reports one: reads of missing keys, not
/// write lookups nor OBJECT / MEMORY USAGE.
#[test]
fn keymiss_on_reads() {
    let p = Pair::new();
    let setup = "SET s:{a} v
         RPUSH l:{b} x";
    let cmds = "GET {a}
         MGET {a} {b} s:{a}
         STRLEN {b}
         GETRANGE {a} 0 1
         SUBSTR {b} 0 1
         LCS {a} {b}
         LCS {a} s:{a}
         EXISTS {a} {b} s:{a}
         TYPE {a}
         TTL {b}
         PTTL {a}
         EXPIRETIME {b}
         PEXPIRETIME {a}
         TOUCH {a} {b}
         OBJECT ENCODING {a}
         OBJECT IDLETIME {b}
         MEMORY USAGE {a}
         LLEN {a}
         LRANGE {b} 0 1
         LINDEX {a} 0
         LPOS {b} x
         HGET {a} f
         HMGET {b} f
         HLEN {a}
         HSTRLEN {b} f
         HEXISTS {a} f
         HKEYS {b}
         HVALS {a}
         HGETALL {b}
         HRANDFIELD {a}
         HSCAN {b} 0
         SCARD {a}
         SISMEMBER {b} m
         SMISMEMBER {a} m
         SMEMBERS {b}
         SRANDMEMBER {a}
         SINTER {a} {b}
         SINTER {a} {c}
         SUNION {b} {d}
         SDIFF {a} {b}
         SINTERCARD 2 {a} {c}
         SSCAN {b} 0
         ZCARD {a}
         ZSCORE {b} m
         ZMSCORE {a} m
         ZRANK {b} m
         ZREVRANK {a} m
         ZCOUNT {b} 0 1
         ZLEXCOUNT {a} - +
         ZRANGE {b} 0 1
         ZREVRANGE {a} 0 1
         ZRANGEBYSCORE {b} 0 1
         ZREVRANGEBYSCORE {a} 1 0
         ZRANGEBYLEX {b} - +
         ZREVRANGEBYLEX {a} + -
         ZRANDMEMBER {b}
         ZSCAN {a} 0
         ZUNION 2 {a} {c}
         ZINTER 2 {b} {d}
         ZDIFF 2 {a} {b}
         ZINTERCARD 2 {a} {c}
         GETDEL {a}
         GETEX {b}
         SET {a} v GET
         GETSET {b} v
         DEL {a} {b}
         COPY {a} {c}
         RENAME {a} {c}
         LPOP {a}
         RPOPLPUSH {a} {b}
         LMOVE {b} {c} LEFT RIGHT
         LMPOP 2 {a} {b} LEFT
         BLPOP {a} {b} 0.01
         SPOP {a}
         SREM {b} m
         SMOVE {a} {b} m
         HDEL {a} f
         ZPOPMIN {b}
         ZREM {a} m
         ZMPOP 1 {a} MIN
         BZPOPMIN {a} 0.01
         PERSIST {a}
         EXPIRE {b} 10
         MOVE {a} 1
         LINSERT {a} BEFORE x y
         LSET {b} 0 x
         SINTERSTORE {c} {a} {b}
         ZUNIONSTORE {c} 2 {a} {b}
         ZRANGESTORE {c} {a} 0 1
         GET s:{a}
         HGET s:{a} f
         LLEN l:{b}";
    for flags in ["Km", "Em", "AKEm"] {
        p.check(flags, setup, cmds);
    }
}

/// Notifications for expired keys: the active cycle (db 0 and db 5, both
/// cores) and lazy expiry on access.
#[test]
fn expired_keys() {
    let p = Pair::new();
    p.check_per_key(
        "AKEnm",
        "",
        "SET {a} 1 PX 50
         SET {b} 1 PX 50
         RPUSH {c} x
         PEXPIRE {c} 50
         SELECT 5
         SET {d} 1 PX 50
         HSET {a} f v
         PEXPIRE {a} 50
         SELECT 0
         WAIT 500
         GET {a}
         SET lazy:{a} 1 PX 20
         SET lazy:{b} 1 PX 20
         WAIT 30
         GET lazy:{a}
         SET lazy:{b} 2",
    );
}

/// Writes to keys that have just expired: each sees "expired" first (from
/// the lookup, or earlier from the active cycle), then "new". The TTLs
/// outlast the set-up, which runs with notifications off.
#[test]
fn writes_over_expired_keys() {
    let p = Pair::new();
    p.check_per_key(
        "AKEnm",
        "SET {a} 1 PX 500
         RPUSH {b} x
         PEXPIRE {b} 500
         HSET {c} f v
         PEXPIRE {c} 500
         SADD {d} m
         PEXPIRE {d} 500
         SET s:{a} v
         SET s:{b} v PX 500
         ZADD z:{a} 1 m
         PEXPIRE z:{a} 500
         SELECT 3
         SET {a} 1 PX 500",
        "WAIT 600
         INCR {a}
         LPUSH {b} y
         HINCRBY {c} f 1
         SMOVE {d} {b} m
         SADD {d} m
         RENAME s:{a} s:{b}
         ZADD z:{a} GT 2 m
         MOVE {a} 3
         SET {b} 1 PXAT 1
         WAIT 300
         GET {b}",
    );
}

/// Commands that fail announce nothing.
#[test]
fn errors_announce_nothing() {
    let p = Pair::new();
    p.check(
        "AKEnm",
        "SET {a} 1
         RPUSH {b} x
         SET f:{a} 1.5",
        "INCR {b}
         LPUSH {a} x
         SADD {a} m
         HSET {a} f v
         ZADD {a} 1 m
         SET {b} v GET
         APPEND {b} x
         INCRBYFLOAT {b} 1
         HINCRBY {a} f 1
         LSET {b} 5 x
         LSET nope:{a} 0 x
         RENAME nope:{a} {b}
         SINTERSTORE {c} {a} {b}
         ZUNIONSTORE {c} 2 {a} {b}
         LMOVE {b} {a} LEFT LEFT
         SMOVE {b} {a} x
         INCR f:{a}
         EXPIRE {a} 10 XX
         SET {c} 1",
    );
}

/// Blocked clients served later: the pops (and moves) they do are
/// announced after the push that served them.
#[test]
fn blocked_clients_served_later() {
    let p = Pair::new();
    let k = |n: &str| p.names.iter().find(|x| x.0 == n).unwrap().1.clone();
    let (a, b, c) = (k("a"), k("b"), k("c"));
    let blocked = [
        format!("BRPOPLPUSH {a}:s {a}:d 10"),
        format!("BLPOP {a} 10"),
        format!("BLMOVE {b} {c} LEFT RIGHT 10"),
        format!("BZPOPMIN {c}:z 10"),
        format!("BLMPOP 10 1 {a}:m RIGHT COUNT 2"),
    ];
    let pushes = format!(
        "RPUSH {a}:s 1
         RPUSH {a} 1 2
         LPUSH {b} x
         ZADD {c}:z 1 m
         RPUSH {a}:m 1 2"
    );
    let mut all = Vec::new();
    for s in [&p.redis, &p.redwing] {
        let mut c0 = s.conn();
        run(&mut c0, "FLUSHALL");
        let mut sub = Subscriber::new(s);
        run(&mut c0, "CONFIG SET notify-keyspace-events KEA");
        let mut waiting = Vec::new();
        for (i, cmd) in blocked.iter().enumerate() {
            let mut w = s.raw();
            let args = words(cmd);
            let mut out = format!("*{}\r\n", args.len());
            for a in &args {
                out += &format!("${}\r\n{a}\r\n", a.len());
            }
            w.write_all(out.as_bytes()).unwrap();
            let name = args[0].to_lowercase();
            wait_blocked(
                &mut c0,
                &name,
                1 + blocked[..i]
                    .iter()
                    .filter(|b| b.starts_with(&args[0]))
                    .count(),
            );
            waiting.push(w);
        }
        for line in p.lines(&pushes) {
            run(&mut c0, &line);
        }
        for w in &mut waiting {
            let mut r = BufReader::new(w.try_clone().unwrap());
            let mut reply = Vec::new();
            read_reply(&mut r, &mut reply).unwrap();
        }
        // A move across cores finishes after the served client wakes, so
        // it may follow later commands on the destination's core.
        all.push(group(&sub.drain(), true));
        run(&mut c0, "CONFIG SET notify-keyspace-events ''");
    }
    assert_eq!(all[1], all[0], "redwing (left) vs redis (right)");
    assert!(all[0].values().flatten().count() >= 16, "{:?}", all[0]);
}

/// Off by default; CONFIG SET turns it on and off live.
#[test]
fn off_by_default_and_switchable() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let mut sub = Subscriber::new(&s);
    run(&mut c, "SET x 1");
    assert!(sub.drain_to_markers(&s, true).is_empty());
    run(&mut c, "CONFIG SET notify-keyspace-events K$");
    run(&mut c, "SET x 2");
    run(&mut c, "CONFIG SET notify-keyspace-events ''");
    run(&mut c, "SET x 3");
    assert_eq!(
        sub.drain_to_markers(&s, true),
        vec![("__keyspace@0__:x".into(), "set".into())]
    );
}
