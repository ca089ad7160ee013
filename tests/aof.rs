//! The append-only file (issue #6) with real processes, as a Redis 7.0 user
//! sees it: after kill -9 a restart brings back every acknowledged write;
//! the multi-part layout and manifest; BGREWRITEAOF and automatic rewrites;
//! truncated, unfinished and corrupt files; enabling the AOF at runtime; the
//! INFO fields.
//!
//! Every test body runs against redwing-server. With `AOF_ORACLE=1` the same
//! bodies run against redis-server 7.0, which is how the tests are checked.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::dataset::{fill_redis, redis_view, run, View};
use common::*;
use redis::Connection;

/// Tests whose kill follows the last write use this, so that what the
/// restart must show does not depend on when an everysec flush happens.
const ALWAYS: [&str; 2] = ["--appendfsync", "always"];

/// Expiry times may differ by this much (ms) after a reload.
const EXPIRE_TOLERANCE_MS: i64 = 5;

// ---- the server under test ----

fn oracle() -> bool {
    std::env::var("AOF_ORACLE").is_ok_and(|v| v == "1")
}

/// Options of every start: the data dir, and no RDB snapshots, so whatever
/// a restart shows came from the AOF.
fn base_args<'a>(dir: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--dir", dir.to_str().unwrap(), "--save", ""];
    args.extend_from_slice(extra);
    args
}

/// Starts the server under test on `dir` and waits until it answers.
fn start(dir: &Path, extra: &[&str]) -> Server {
    let args = base_args(dir, extra);
    if oracle() {
        Server::redis(&args)
    } else {
        Server::start(&args)
    }
}

/// Starts with `appendonly yes` and `extra`.
fn start_aof(dir: &Path, extra: &[&str]) -> Server {
    let mut args = vec!["--appendonly", "yes"];
    args.extend_from_slice(extra);
    start(dir, &args)
}

/// The full command line of the server under test, program first.
fn argv(dir: &Path, port: u16, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = if oracle() {
        vec!["redis-server".into()]
    } else {
        vec![redwing_bin().into(), "--threads".into(), "2".into()]
    };
    v.extend(["--port".into(), port.to_string()]);
    v.extend(["--bind".into(), "127.0.0.1".into()]);
    v.extend(base_args(dir, extra).iter().map(|s| s.to_string()));
    v
}

/// Starts the server without waiting for it to answer (it may be loading).
/// Killed on drop like any `Server`.
fn launch(dir: &Path, extra: &[&str]) -> Server {
    let port = free_port();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("server.log");
    let out = std::fs::File::create(&log).unwrap();
    let argv = argv(dir, port, extra);
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    Server {
        port,
        host: "127.0.0.1".into(),
        child,
        dir: logs,
        log,
    }
}

/// Runs a server that must refuse to start: its exit code and output.
/// `timeout` bounds the run; 124 means the server did not exit.
fn run_to_exit(dir: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let out = Command::new("timeout")
        .args(["-k", "5", "10"])
        .args(argv(dir, free_port(), extra))
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

/// kill -9: the server gets no chance to flush or save anything.
fn kill9(mut s: Server) {
    s.child.kill().unwrap(); // SIGKILL
    s.child.wait().unwrap();
}

// ---- files ----

/// File names in `dir`.
fn files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn set_of(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn aof_dir(dir: &Path) -> PathBuf {
    dir.join("appendonlydir")
}

fn manifest_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(String::from)
        .collect()
}

/// The last incr file the default manifest names.
fn incr_file(dir: &Path) -> PathBuf {
    let lines = manifest_lines(&aof_dir(dir).join("appendonly.aof.manifest"));
    let name = lines
        .iter()
        .rev()
        .find(|l| l.ends_with("type i"))
        .and_then(|l| l.split(' ').nth(1))
        .expect("an incr file in the manifest")
        .to_string();
    aof_dir(dir).join(name)
}

fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

/// redis-check-aof accepts the files `manifest` names.
fn check_aof(manifest: &Path) {
    let out = Command::new("redis-check-aof")
        .arg(manifest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "redis-check-aof: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

// ---- the keyspace ----

type Keyspace = BTreeMap<(u32, Vec<u8>), View>;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Every key of every db (by SCAN) with its type, value and expiry time.
/// Encodings are left out: a reload may pick another one.
fn keyspace(c: &mut Connection) -> Keyspace {
    let mut out = Keyspace::new();
    for db in 0..16u32 {
        run(c, &["SELECT", &db.to_string()]);
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query(c)
                .unwrap();
            for k in keys {
                let mut v = redis_view(c, &k);
                // Expired since SCAN saw it.
                if v.ty == "none" {
                    continue;
                }
                v.encoding.clear();
                out.insert((db, k), v);
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    run(c, &["SELECT", "0"]);
    out
}

fn show(key: &(u32, Vec<u8>), v: Option<&View>) -> String {
    let name = String::from_utf8_lossy(&key.1);
    match v {
        None => format!("db {} {name}: absent", key.0),
        Some(v) => format!(
            "db {} {name}: {} of {} items, first {:?}, expires {}",
            key.0,
            v.ty,
            v.items.len(),
            v.items.first().map(|i| String::from_utf8_lossy(i)),
            v.expire
        ),
    }
}

/// `after` holds exactly the keys of `before` that have not expired by now,
/// each with the same type, value and expiry time.
fn assert_same_keyspace(before: &Keyspace, after: &Keyspace) {
    let now = now_ms();
    let live = |v: &View| v.expire == -1 || v.expire > now;
    let mut diffs = Vec::new();
    for (k, want) in before.iter().filter(|(_, v)| live(v)) {
        let got = after.get(k);
        let same = got.is_some_and(|g| {
            g.ty == want.ty
                && g.items == want.items
                && (g.expire == want.expire
                    || (want.expire >= 0 && (g.expire - want.expire).abs() <= EXPIRE_TOLERANCE_MS))
        });
        if !same {
            diffs.push(format!("{} -> {}", show(k, Some(want)), show(k, got)));
        }
    }
    for (k, got) in after {
        if !before.get(k).is_some_and(live) {
            diffs.push(format!("unexpected {}", show(k, Some(got))));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} of {} keys differ after the restart, e.g.:\n{}",
        diffs.len(),
        before.len(),
        diffs[..diffs.len().min(10)].join("\n")
    );
}

fn config_get(c: &mut Connection, name: &str) -> String {
    let v: Vec<String> = cmd(&["CONFIG", "GET", name]).query(c).unwrap();
    assert_eq!(v.len(), 2, "CONFIG GET {name}: {v:?}");
    v[1].clone()
}

fn get(c: &mut Connection, key: &str) -> Option<String> {
    cmd(&["GET", key]).query(c).unwrap()
}

fn info_int(c: &mut Connection, field: &str) -> i64 {
    let v = info_field(c, field);
    v.parse()
        .unwrap_or_else(|_| panic!("{field}:{v} is not a number"))
}

/// No rewrite running or waiting to run.
fn rewrite_idle(c: &mut Connection) -> bool {
    info_field(c, "aof_rewrite_in_progress") == "0" && info_field(c, "aof_rewrite_scheduled") == "0"
}

// ---- the round-trip data set ----

/// Writes every type in several encodings with the commands whose AOF
/// form differs from what the client sent (relative TTLs, floats, random
/// pops, scripts, transactions, blocking pops, cross-core moves, db
/// switches and flushes), and keys that expire.
fn write_everything(s: &Server) {
    let mut c = s.conn();
    fill_redis(&mut c, false);
    let far = (now_ms() + 3_000_000).to_string();
    let steps: &[&[&str]] = &[
        &["INCR", "counter"],
        &["INCRBY", "counter", "41"],
        &["DECRBY", "counter", "2"],
        &["SET", "long", "9223372036854775806"],
        &["INCR", "long"],
        &["APPEND", "embstr", "!"],
        &["SETRANGE", "raw", "3", "xyz"],
        &["INCRBYFLOAT", "float", "1.1"],
        &["INCRBYFLOAT", "float", "2.5e3"],
        &["SET", "float:ttl", "1", "EX", "1000"],
        &["INCRBYFLOAT", "float:ttl", "0.25"],
        &["SETEX", "setex", "1000", "v"],
        &["PSETEX", "psetex", "2000000", "v"],
        &["SET", "expire", "v"],
        &["EXPIRE", "expire", "2000"],
        &["SET", "pexpireat", "v"],
        &["PEXPIREAT", "pexpireat", far.as_str()],
        &["SET", "persist", "v", "EX", "100"],
        &["PERSIST", "persist"],
        &["SET", "getex", "v"],
        &["GETEX", "getex", "PX", "1500000"],
        &["SET", "getdel", "v"],
        &["GETDEL", "getdel"],
        &["LPUSH", "l2", "c", "b", "a"],
        &["RPOP", "l2"],
        &["LINSERT", "l2", "AFTER", "a", "a2"],
        &["LSET", "l2", "0", "A"],
        &["LTRIM", "list:big", "10", "-10"],
        &["LREM", "list:big", "0", "70"],
        &["HINCRBY", "h:small", "n", "10"],
        &["HINCRBYFLOAT", "h:small", "f", "3.25"],
        &["HINCRBYFLOAT", "h:small", "f", "1e2"],
        &["HDEL", "h:big", "f1", "f2"],
        &["HSETNX", "h:small", "nx", "1"],
        &[
            "SADD", "spop", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j",
        ],
        &["SPOP", "spop", "3"],
        &["SPOP", "spop"],
        &["SREM", "set:bigints", "7"],
        &["SINTERSTORE", "set:inter", "set:ints", "set:bigints"],
        &["ZINCRBY", "z:small", "1.5", "a"],
        &["ZREM", "z:big", "m1"],
        &["ZPOPMIN", "z:big", "2"],
        &["ZREMRANGEBYSCORE", "z:big", "10", "20"],
        &["SELECT", "2"],
        &["SET", "db2", "x"],
        &["SELECT", "3"],
        &["SET", "flushed", "x"],
        &["RPUSH", "flushed:l", "x"],
        &["FLUSHDB"],
        &["SET", "after-flush", "x"],
        &["SELECT", "4"],
        &["SET", "was4", "x"],
        &["SELECT", "5"],
        &["SET", "was5", "x"],
        &["SWAPDB", "4", "5"],
        &["SELECT", "0"],
    ];
    for step in steps {
        run(&mut c, step);
    }
    cross_core_writes(&mut c);
    transaction_and_script(&mut c);
    blocking_pop(s, &mut c);
    // Expired before the kill: by a read, and left to the expiry cycle.
    run(&mut c, &["SET", "expired:read", "v", "PX", "50"]);
    run(&mut c, &["SET", "expired:idle", "v", "PX", "50"]);
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(get(&mut c, "expired:read"), None);
    // Expires while the server is down.
    run(&mut c, &["SET", "soon", "v", "PX", "2000"]);
}

/// RENAME, SMOVE, LMOVE and ZUNIONSTORE with source and destination on
/// different cores.
fn cross_core_writes(c: &mut Connection) {
    let (a, b) = keys_on_two_cores("ren:");
    run(c, &["SET", &a, "moved"]);
    run(c, &["RENAME", &a, &b]);
    let (a, b) = keys_on_two_cores("smove:");
    run(c, &["SADD", &a, "m1", "m2"]);
    run(c, &["SMOVE", &a, &b, "m1"]);
    let (a, b) = keys_on_two_cores("lmove:");
    run(c, &["RPUSH", &a, "1", "2", "3"]);
    run(c, &["LMOVE", &a, &b, "LEFT", "RIGHT"]);
    run(c, &["LMOVE", &a, &b, "RIGHT", "LEFT"]);
    let (a, b) = keys_on_two_cores("zunion:");
    run(c, &["ZADD", &a, "1", "x", "2", "y"]);
    run(
        c,
        &["ZUNIONSTORE", &b, "2", &a, "z:small", "WEIGHTS", "2", "1"],
    );
}

/// A MULTI/EXEC over two cores where one queued command fails at EXEC (the
/// others stay applied), and a script that writes on two cores, pops at
/// random and increments a float.
fn transaction_and_script(c: &mut Connection) {
    let (a, b) = keys_on_two_cores("tx:");
    run(c, &["MULTI"]);
    for step in [
        &["SET", &a, "1"][..],
        &["INCR", &b],
        &["INCR", "l2"], // WRONGTYPE at EXEC
        &["RPUSH", "tx:list", "a", "b"],
        &["PEXPIRE", &a, "4000000"],
    ] {
        assert_eq!(cmd(step).query::<String>(c).unwrap(), "QUEUED");
    }
    // The client reports the failed command as the error of EXEC.
    let e = cmd(&["EXEC"]).query::<redis::Value>(c).unwrap_err();
    assert_eq!(e.code(), Some("WRONGTYPE"), "{e}");
    assert_eq!(get(c, &a).as_deref(), Some("1"));
    let (a, b) = keys_on_two_cores("eval:");
    let script = "redis.call('SET', KEYS[1], ARGV[1]) \
                  redis.call('SADD', KEYS[2], 'a', 'b', 'c', 'd') \
                  redis.call('SPOP', KEYS[2]) \
                  redis.call('INCRBYFLOAT', KEYS[1], '0.5') \
                  return 1";
    run(c, &["EVAL", script, "2", &a, &b, "3"]);
}

/// BLPOP served by an LPUSH from another client: the AOF must show the
/// push and the pop.
fn blocking_pop(s: &Server, c: &mut Connection) {
    let (key, _) = keys_on_two_cores("blpop:");
    let popper = {
        let (mut p, key) = (s.conn(), key.clone());
        std::thread::spawn(move || -> Vec<String> {
            cmd(&["BLPOP", &key, "10"]).query(&mut p).unwrap()
        })
    };
    wait_blocked(c, "blpop", 1);
    run(c, &["LPUSH", &key, "x", "y"]);
    assert_eq!(popper.join().unwrap(), [key.as_str(), "y"]);
}

// ---- tests ----

#[test]
fn kill9_and_restart_keep_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_aof(dir.path(), &ALWAYS);
    write_everything(&s);
    let before = keyspace(&mut s.conn());
    kill9(s);
    let soon = before.get(&(0, b"soon".to_vec())).expect("soon").expire;
    assert!(!before.contains_key(&(0, b"expired:read".to_vec())));
    // "soon" expires while the server is down.
    std::thread::sleep(Duration::from_millis((soon - now_ms()).max(0) as u64 + 50));
    let s = start_aof(dir.path(), &[]);
    let after = keyspace(&mut s.conn());
    assert_same_keyspace(&before, &after);
    assert!(after.len() > 40, "only {} keys", after.len());
}

#[test]
fn layout_and_manifest_as_redis_writes_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_aof(dir.path(), &ALWAYS);
    let aof = aof_dir(dir.path());
    assert_eq!(
        files(&aof),
        set_of(&[
            "appendonly.aof.1.base.rdb",
            "appendonly.aof.1.incr.aof",
            "appendonly.aof.manifest"
        ])
    );
    assert_eq!(
        manifest_lines(&aof.join("appendonly.aof.manifest")),
        [
            "file appendonly.aof.1.base.rdb seq 1 type b",
            "file appendonly.aof.1.incr.aof seq 1 type i",
        ]
    );
    write_everything(&s);
    check_aof(&aof.join("appendonly.aof.manifest"));
}

#[test]
fn appenddirname_and_appendfilename_name_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["--appenddirname", "journal", "--appendfilename", "data.aof"];
    let args = [&names[..], &ALWAYS].concat();
    let s = start_aof(dir.path(), &args);
    let mut c = s.conn();
    assert_eq!(config_get(&mut c, "appenddirname"), "journal");
    assert_eq!(config_get(&mut c, "appendfilename"), "data.aof");
    let journal = dir.path().join("journal");
    assert_eq!(
        files(&journal),
        set_of(&[
            "data.aof.1.base.rdb",
            "data.aof.1.incr.aof",
            "data.aof.manifest"
        ])
    );
    assert_eq!(
        manifest_lines(&journal.join("data.aof.manifest")),
        [
            "file data.aof.1.base.rdb seq 1 type b",
            "file data.aof.1.incr.aof seq 1 type i",
        ]
    );
    assert!(!aof_dir(dir.path()).exists());
    run(&mut c, &["SET", "k", "v"]);
    kill9(s);
    let s = start_aof(dir.path(), &args);
    assert_eq!(get(&mut s.conn(), "k").as_deref(), Some("v"));
}

/// BGREWRITEAOF while another client increments a counter: the manifest
/// moves to base and incr seq 2, the old files go, and a restart shows
/// every acknowledged INCR.
#[test]
fn bgrewriteaof_under_writes_keeps_every_write() {
    const PRELOAD: u64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let s = start_aof(dir.path(), &ALWAYS);
    let mut c = s.conn();
    preload(&mut c, "pre", PRELOAD);
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, acked, mut w) = (stop.clone(), acked.clone(), s.conn());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let n: u64 = cmd(&["INCR", "counter"]).query(&mut w).unwrap();
                acked.store(n, Ordering::Relaxed);
            }
        })
    };
    let wait_acked = |n: u64| {
        wait_for("INCRs", TIMEOUT, || acked.load(Ordering::Relaxed) >= n);
    };
    wait_acked(100);
    let reply: String = cmd(&["BGREWRITEAOF"]).query(&mut c).unwrap();
    assert_eq!(reply, "Background append only file rewriting started");
    wait_for("rewrite", Duration::from_secs(60), || {
        rewrite_idle(&mut c) && info_int(&mut c, "aof_rewrites") == 1
    });
    // Some INCRs land in the new incr file.
    wait_acked(acked.load(Ordering::Relaxed) + 100);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let n = acked.load(Ordering::Relaxed);
    assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
    assert_eq!(info_field(&mut c, "aof_rewrite_in_progress"), "0");
    assert_eq!(info_int(&mut c, "aof_rewrites"), 1);
    let aof = aof_dir(dir.path());
    assert_eq!(
        manifest_lines(&aof.join("appendonly.aof.manifest")),
        [
            "file appendonly.aof.2.base.rdb seq 2 type b",
            "file appendonly.aof.2.incr.aof seq 2 type i",
        ]
    );
    let now = set_of(&[
        "appendonly.aof.2.base.rdb",
        "appendonly.aof.2.incr.aof",
        "appendonly.aof.manifest",
    ]);
    wait_for("old files deleted", TIMEOUT, || files(&aof) == now);
    check_aof(&aof.join("appendonly.aof.manifest"));
    kill9(s);
    let s = start_aof(dir.path(), &[]);
    let mut c = s.conn();
    assert_eq!(get(&mut c, "counter"), Some(n.to_string()));
    assert_eq!(int(&mut c, &["DBSIZE"]), PRELOAD as i64 + 1);
}

/// auto-aof-rewrite-min-size / -percentage start a rewrite once the incr
/// file has grown enough.
#[test]
fn incr_growth_starts_a_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_aof(dir.path(), &ALWAYS);
    let mut c = s.conn();
    run(
        &mut c,
        &["CONFIG", "SET", "auto-aof-rewrite-min-size", "1mb"],
    );
    assert_eq!(config_get(&mut c, "auto-aof-rewrite-min-size"), "1048576");
    assert_eq!(config_get(&mut c, "auto-aof-rewrite-percentage"), "100");
    assert_eq!(info_int(&mut c, "aof_rewrites"), 0);
    let value = "v".repeat(1000);
    for base in (0..3000).step_by(100) {
        let mut p = redis::pipe();
        for i in base..base + 100 {
            p.cmd("SET").arg(format!("big:{i}")).arg(&value);
        }
        p.query::<()>(&mut c).unwrap();
    }
    wait_for("automatic rewrite", Duration::from_secs(20), || {
        info_int(&mut c, "aof_rewrites") >= 1 && rewrite_idle(&mut c)
    });
    assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
    let before = keyspace(&mut c);
    kill9(s);
    let s = start_aof(dir.path(), &[]);
    assert_same_keyspace(&before, &keyspace(&mut s.conn()));
}

// ---- crash tests ----

/// What the writers of a crash test had acknowledged and what a restart
/// lost of it.
struct Crash {
    acked: u64,
    missing: u64,
    /// Acknowledged writes per second during the load.
    rate: f64,
}

impl std::fmt::Display for Crash {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "{} writes acknowledged ({:.0}/s), {} missing after the restart",
            self.acked, self.rate, self.missing
        )
    }
}

/// Writer `t`: `SET w:<t>:<i> <i>` then `INCR c:<t>` for i = 0.. until the
/// server goes away. Returns how many SETs and INCRs were acknowledged.
fn crash_writer(url: String, t: usize) -> (u64, u64) {
    let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
    c.set_read_timeout(Some(TIMEOUT)).unwrap();
    let (mut sets, mut incrs) = (0u64, 0u64);
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        let key = format!("w:{t}:{sets}");
        if cmd(&["SET", &key, &sets.to_string()])
            .query::<()>(&mut c)
            .is_err()
        {
            break;
        }
        sets += 1;
        match cmd(&["INCR", &format!("c:{t}")]).query::<u64>(&mut c) {
            Ok(n) => assert_eq!(n, incrs + 1),
            Err(_) => break,
        }
        incrs += 1;
    }
    (sets, incrs)
}

/// How many of `w:<t>:0..sets` are missing or wrong.
fn missing_sets(c: &mut Connection, t: usize, sets: u64) -> u64 {
    let mut missing = 0;
    for base in (0..sets).step_by(1000) {
        let range = base..(base + 1000).min(sets);
        let keys: Vec<String> = range.clone().map(|i| format!("w:{t}:{i}")).collect();
        let got: Vec<Option<u64>> = redis::cmd("MGET").arg(&keys).query(c).unwrap();
        missing += range.zip(got).filter(|(i, v)| *v != Some(*i)).count() as u64;
    }
    missing
}

/// Several writers under `appendfsync <fsync>`; kill -9 mid-load; restart
/// and count the acknowledged writes that are gone.
fn crash_under_load(fsync: &str) -> Crash {
    const WRITERS: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let s = start_aof(dir.path(), &["--appendfsync", fsync]);
    let started = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let url = s.url();
            std::thread::spawn(move || crash_writer(url, t))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    kill9(s);
    let load = started.elapsed().as_secs_f64();
    let acked: Vec<(u64, u64)> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let s = start_aof(dir.path(), &[]);
    let mut c = s.conn();
    let mut missing = 0;
    for (t, &(sets, incrs)) in acked.iter().enumerate() {
        missing += missing_sets(&mut c, t, sets);
        let counter: u64 = get(&mut c, &format!("c:{t}")).map_or(0, |v| v.parse().unwrap());
        // One INCR per writer may have been applied but not acknowledged.
        assert!(
            counter <= incrs + 1,
            "writer {t}: c = {counter}, {incrs} acknowledged"
        );
        missing += incrs.saturating_sub(counter);
    }
    let total: u64 = acked.iter().map(|(s, i)| s + i).sum();
    let crash = Crash {
        acked: total,
        missing,
        rate: total as f64 / load,
    };
    eprintln!("appendfsync {fsync}: {crash}");
    assert!(crash.acked > 100, "too little load: {crash}");
    crash
}

#[test]
fn crash_with_fsync_always_loses_nothing_acknowledged() {
    let crash = crash_under_load("always");
    assert_eq!(crash.missing, 0, "{crash}");
}

/// README: under everysec the file is appended every millisecond, so a
/// killed process (not a machine crash, which the fsync a second bounds)
/// loses only the writes acknowledged in the last few milliseconds. The
/// bound is 10 ms of writes (the appender may wait for a busy core) plus
/// one in flight per writer; measured: 3 to 23 of ~20 000/s, under 1 ms.
#[test]
fn crash_with_fsync_everysec_loses_only_the_last_milliseconds() {
    let crash = crash_under_load("everysec");
    let allowed = (crash.rate * 0.010) as u64 + 4;
    assert!(crash.missing <= allowed, "{crash}; {allowed} allowed");
}

/// appendfsync no: the file is still appended every millisecond (the
/// kernel flushes it), so a killed process loses as little as under
/// everysec (README).
#[test]
fn crash_with_fsync_no_loses_only_the_last_milliseconds() {
    let crash = crash_under_load("no");
    let allowed = (crash.rate * 0.010) as u64 + 4;
    assert!(crash.missing <= allowed, "{crash}; {allowed} allowed");
}

/// A BGREWRITEAOF during a BGSAVE is scheduled (README, as Redis) and runs
/// once the save is done: a new base, every key kept.
#[test]
fn bgrewriteaof_during_bgsave_is_scheduled() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_aof(dir.path(), &[]);
    let mut c = s.conn();
    preload(&mut c, "k", 200_000);
    let rewrites = info_int(&mut c, "aof_rewrites");
    // In one write: the save cannot have finished 200 000 keys by then.
    let mut raw = RawClient::new(&s);
    raw.send_many(&[&["BGSAVE"], &["BGREWRITEAOF"]]);
    assert_eq!(raw.read(), "+Background saving started\r\n");
    assert_eq!(
        raw.read(),
        "+Background append only file rewriting scheduled\r\n"
    );
    wait_for("the scheduled rewrite", Duration::from_secs(60), || {
        info_int(&mut c, "aof_rewrites") == rewrites + 1
            && info_int(&mut c, "aof_rewrite_scheduled") == 0
            && rewrite_idle(&mut c)
    });
    assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    check_aof(&aof_dir(dir.path()).join("appendonly.aof.manifest"));
    kill9(s);
    let s = start_aof(dir.path(), &[]);
    assert_eq!(int(&mut s.conn(), &["DBSIZE"]), 200_000);
}

/// `CONFIG SET appendfsync always` at runtime: from its reply on, a
/// write's reply waits for the fsync, so a kill -9 right after it loses
/// nothing (it used to count every later write as synced). Three rounds:
/// the unfixed server lost the write in most of them.
#[test]
fn appendfsync_always_set_at_runtime_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let s = start_aof(dir.path(), &[]);
        let mut c = RawClient::new(&s);
        assert_eq!(
            c.call(&["CONFIG", "SET", "appendfsync", "always"]),
            "+OK\r\n"
        );
        let key = format!("last{round}");
        assert_eq!(c.call(&["SET", &key, "1"]), "+OK\r\n");
        kill9(s);
        let s = start_aof(dir.path(), &[]);
        assert_eq!(int(&mut s.conn(), &["DBSIZE"]), round + 1, "round {round}");
        kill9(s);
    }
}

/// A tmpfs of `size` mounted on a fresh directory (we run as root),
/// unmounted when dropped.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        SmallDisk(dir).with(&format!("size={size}"))
    }

    fn with(self, opts: &str) -> SmallDisk {
        let remount = Command::new("findmnt")
            .arg(self.0.path())
            .status()
            .is_ok_and(|s| s.success());
        let opts = if remount {
            format!("remount,{opts}")
        } else {
            opts.to_string()
        };
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &opts, "tmpfs"])
            .arg(self.0.path())
            .status()
            .unwrap();
        assert!(st.success(), "mount -o {opts} (needs root)");
        self
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

/// README: a failed AOF write makes writes (and PING) answer -MISCONF
/// while reads work, until a retry succeeds; nothing acknowledged is lost.
/// The disk fills up (a small tmpfs), then gets room (remounted larger).
#[test]
fn full_disk_refuses_writes_with_misconf_until_there_is_room() {
    // Redis names the system error (strerror of the write's errno).
    const MISCONF: &str = "-MISCONF Errors writing to the AOF file: No space left on device\r\n";
    let disk = SmallDisk::mount("256k");
    let s = start_aof(disk.0.path(), &[]);
    let mut c = RawClient::new(&s);
    let value = "x".repeat(16 * 1024);
    let mut acked = 0;
    wait_for("a write refused", Duration::from_secs(30), || {
        let got = c.call(&["SET", &format!("k{acked}"), &value]);
        if got == "+OK\r\n" {
            acked += 1;
            return false;
        }
        assert_eq!(got, MISCONF);
        true
    });
    assert!(acked > 0, "the first writes fit");
    assert_eq!(c.call(&["PING"]), MISCONF);
    assert_eq!(c.call(&["DEL", "k0"]), MISCONF);
    assert_eq!(c.call(&["STRLEN", "k0"]), format!(":{}\r\n", value.len()));
    let mut admin = s.conn();
    assert_eq!(info_field(&mut admin, "aof_last_write_status"), "err");
    // Room again: a retry works and so do writes.
    let disk = disk.with("size=16m");
    wait_for("writes accepted again", Duration::from_secs(10), || {
        c.call(&["PING"]) == "+PONG\r\n"
    });
    assert_eq!(info_field(&mut admin, "aof_last_write_status"), "ok");
    // `always`: this reply waits for the fsync of everything before it.
    assert_eq!(
        c.call(&["CONFIG", "SET", "appendfsync", "always"]),
        "+OK\r\n"
    );
    assert_eq!(c.call(&["SET", "last", "1"]), "+OK\r\n");
    kill9(s);
    let s = start_aof(disk.0.path(), &[]);
    let mut c = s.conn();
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
    keys.sort();
    assert_eq!(
        keys.len(),
        acked + 1,
        "{acked} acknowledged; back: {keys:?}"
    );
    assert_eq!(
        int(&mut c, &["STRLEN", &format!("k{}", acked - 1)]),
        16 * 1024
    );
    kill9(s);
}

// ---- damaged files ----

/// A server with a few keys in db 0 and 1, killed: its dir and keyspace.
fn killed_with_data() -> (tempfile::TempDir, Keyspace) {
    let dir = tempfile::tempdir().unwrap();
    let s = start_aof(dir.path(), &ALWAYS);
    let mut c = s.conn();
    for i in 0..20 {
        run(&mut c, &["SET", &format!("k:{i}"), &format!("v{i}")]);
    }
    run(&mut c, &["RPUSH", "list", "a", "b"]);
    run(&mut c, &["SELECT", "1"]);
    run(&mut c, &["SET", "in-db1", "x"]);
    let before = keyspace(&mut c);
    kill9(s);
    (dir, before)
}

/// The log names the AOF file (by its name, as Redis does, or its path).
fn assert_names_file(log: &str, file: &Path, what: &str) {
    let name = file.file_name().unwrap().to_str().unwrap();
    assert!(
        log.contains(name),
        "{what}: log does not name {name}:\n{log}"
    );
}

/// A command cut short at the tail: refused with aof-load-truncated no
/// (file untouched); loaded with the default, with a warning; later writes
/// append after the good part.
#[test]
fn truncated_tail_loads_unless_refused() {
    let (dir, before) = killed_with_data();
    let incr = incr_file(dir.path());
    append(&incr, b"*3\r\n$3\r\nSET\r\n$1\r\n");
    let damaged = std::fs::read(&incr).unwrap();
    let (code, log) = run_to_exit(
        dir.path(),
        &["--appendonly", "yes", "--aof-load-truncated", "no"],
    );
    assert!(
        code.is_some_and(|c| c != 0 && c != 124),
        "exit {code:?}:\n{log}"
    );
    assert_names_file(&log, &incr, "aof-load-truncated no");
    assert_eq!(std::fs::read(&incr).unwrap(), damaged, "file changed");

    let s = start_aof(dir.path(), &ALWAYS);
    let mut c = s.conn();
    assert_same_keyspace(&before, &keyspace(&mut c));
    let log = s.log_text();
    assert_names_file(&log, &incr, "aof-load-truncated yes");
    assert!(log.contains("aof-load-truncated"), "no warning:\n{log}");
    run(&mut c, &["SET", "after", "1"]);
    let before = keyspace(&mut c);
    kill9(s);
    let s = start_aof(dir.path(), &[]);
    assert_same_keyspace(&before, &keyspace(&mut s.conn()));
}

/// A damaged byte before the tail is not a truncation: the server refuses
/// to start, names the file and leaves it as it was.
#[test]
fn corrupt_byte_in_the_middle_refuses_to_start() {
    let (dir, _) = killed_with_data();
    let incr = incr_file(dir.path());
    let mut bytes = std::fs::read(&incr).unwrap();
    // The '*' starting a command in the middle of the file.
    let at = bytes.len() / 2
        + bytes[bytes.len() / 2..]
            .windows(3)
            .position(|w| w == b"\r\n*")
            .expect("a command after the middle")
        + 2;
    bytes[at] = b'x';
    std::fs::write(&incr, &bytes).unwrap();
    let (code, log) = run_to_exit(dir.path(), &["--appendonly", "yes"]);
    assert!(
        code.is_some_and(|c| c != 0 && c != 124),
        "exit {code:?}:\n{log}"
    );
    assert_names_file(&log, &incr, "corrupt byte");
    assert_eq!(std::fs::read(&incr).unwrap(), bytes, "file changed");
}

/// A MULTI whose EXEC never reached the file applies none of its commands.
#[test]
fn multi_without_exec_at_the_tail_is_dropped() {
    let (dir, before) = killed_with_data();
    let incr = incr_file(dir.path());
    append(
        &incr,
        b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$3\r\ntxa\r\n$1\r\n1\r\n\
          *2\r\n$4\r\nINCR\r\n$3\r\nk:1\r\n",
    );
    let s = start_aof(dir.path(), &[]);
    assert_same_keyspace(&before, &keyspace(&mut s.conn()));
}

// ---- configuration and INFO ----

/// CONFIG SET appendonly yes on a server with data writes an AOF holding
/// all of it.
#[test]
fn config_set_appendonly_yes_writes_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), &[]);
    let mut c = s.conn();
    assert_eq!(config_get(&mut c, "appendonly"), "no");
    assert_eq!(config_get(&mut c, "appendfsync"), "everysec");
    assert_eq!(config_get(&mut c, "appenddirname"), "appendonlydir");
    assert_eq!(config_get(&mut c, "appendfilename"), "appendonly.aof");
    assert_eq!(info_field(&mut c, "aof_enabled"), "0");
    fill_redis(&mut c, false);
    run(&mut c, &["CONFIG", "SET", "appendfsync", "always"]);
    assert_eq!(config_get(&mut c, "appendfsync"), "always");
    run(&mut c, &["CONFIG", "SET", "appendonly", "yes"]);
    assert_eq!(config_get(&mut c, "appendonly"), "yes");
    assert_eq!(info_field(&mut c, "aof_enabled"), "1");
    let manifest = aof_dir(dir.path()).join("appendonly.aof.manifest");
    wait_for("the first rewrite", Duration::from_secs(30), || {
        rewrite_idle(&mut c) && manifest.exists()
    });
    assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
    run(&mut c, &["SET", "after-enable", "1"]);
    let before = keyspace(&mut c);
    kill9(s);
    let s = start_aof(dir.path(), &[]);
    assert_same_keyspace(&before, &keyspace(&mut s.conn()));
}

/// The AOF directory is interchangeable with redis-server 7.0's, both ways:
/// each loads what the other wrote (base with a function library, incr
/// files, a rewrite in between) with the same keys, values and TTLs.
#[test]
fn aof_files_interchange_with_redis() {
    if oracle() {
        return;
    }
    let write = |s: &Server| {
        let mut c = s.conn();
        run(
            &mut c,
            &[
                "FUNCTION",
                "LOAD",
                "#!lua name=lib\nredis.register_function('one', function() return 1 end)",
            ],
        );
        fill_redis(&mut c, false);
        run(&mut c, &["BGREWRITEAOF"]);
        wait_for("the rewrite", Duration::from_secs(30), || {
            rewrite_idle(&mut c)
        });
        run(&mut c, &["RPUSH", "l2", "x"]);
        transaction_and_script(&mut c);
        run(&mut c, &["SET", "ttl", "v", "EX", "1000"]);
        keyspace(&mut c)
    };
    let args = |dir: &Path| -> Vec<String> {
        let d = dir.to_str().unwrap().to_string();
        ["--dir", &d, "--save", "", "--appendonly", "yes"]
            .map(String::from)
            .to_vec()
    };
    let load_check = |s: &Server, before: &Keyspace| {
        let mut c = s.conn();
        assert_same_keyspace(before, &keyspace(&mut c));
        assert_eq!(int(&mut c, &["FCALL", "one", "0"]), 1);
    };
    let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a: Vec<String> = args(ours.path());
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let b: Vec<String> = args(theirs.path());
    let b: Vec<&str> = b.iter().map(String::as_str).collect();
    let (ours_data, theirs_data) = {
        let (rw, rd) = (Server::start(&a), Server::redis(&b));
        let data = (write(&rw), write(&rd));
        kill9(rw);
        kill9(rd);
        data
    };
    load_check(&Server::redis(&a), &ours_data);
    load_check(&Server::start(&b), &theirs_data);
}

/// Transfers between accounts on both cores, by MULTI/EXEC and by EVAL, are
/// one MULTI/EXEC block each in the AOF: after kill -9 mid-load the total is
/// what it was, so no transaction was persisted in part.
#[test]
fn crash_keeps_transactions_whole() {
    if oracle() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start_aof(dir.path(), &[]);
    let (accounts, total) = accounts(&s, 8);
    let stop = Arc::new(AtomicBool::new(false));
    // Only acknowledged transfers count (the kill makes the last ones fail).
    let mut threads = transfer_threads(&s, &accounts, 2, &stop, |c, from, to| {
        redis::pipe()
            .atomic()
            .cmd("DECRBY")
            .arg(from)
            .arg(3)
            .cmd("INCRBY")
            .arg(to)
            .arg(3)
            .cmd("INCR")
            .arg("transfers")
            .query::<(i64, i64, i64)>(c)
            .is_ok()
    });
    threads.extend(transfer_threads(&s, &accounts, 2, &stop, |c, from, to| {
        let script = "redis.call('DECRBY', KEYS[1], 2) redis.call('INCR', KEYS[3]) \
                      return redis.call('INCRBY', KEYS[2], 2)";
        cmd(&["EVAL", script, "3", from, to, "transfers"])
            .query::<i64>(c)
            .is_ok()
    }));
    std::thread::sleep(Duration::from_millis(1500));
    kill9(s);
    let made = stop_transfers(&stop, threads);
    assert!(made > 0, "no transfer succeeded before the kill");
    let s = start_aof(dir.path(), &[]);
    let mut c = s.conn();
    assert_eq!(balance(&mut c, &accounts), total, "after {made} transfers");
    // Transfers were persisted, and no more than were made (each writer may
    // have one in flight whose reply the kill cut off). Counted, since the
    // writers' account pattern can bring every balance back to 1000.
    let persisted = int(&mut c, &["GET", "transfers"]);
    assert!(
        persisted > 0 && persisted as u64 <= made + 4,
        "{made} transfers acknowledged, {persisted} in the AOF"
    );
}

/// Off and on again at run time: writes made while it was off are in the
/// new base, none is replayed twice, and later writes follow it.
#[test]
fn appendonly_off_and_on_again_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_aof(dir.path(), &[]);
    let mut c = s.conn();
    let (a, b) = keys_on_two_cores("onoff");
    run(&mut c, &["INCR", &a]);
    run(&mut c, &["CONFIG", "SET", "appendonly", "no"]);
    run(&mut c, &["INCR", &a]);
    run(&mut c, &["INCR", &b]);
    run(&mut c, &["CONFIG", "SET", "appendonly", "yes"]);
    wait_for("the rewrite", Duration::from_secs(30), || {
        rewrite_idle(&mut c)
    });
    run(&mut c, &["INCR", &a]);
    run(&mut c, &["INCR", &b]);
    let before = keyspace(&mut c);
    kill9(s);
    let s = start_aof(dir.path(), &[]);
    let mut c = s.conn();
    assert_eq!(get(&mut c, &a).as_deref(), Some("3"));
    assert_eq!(get(&mut c, &b).as_deref(), Some("2"));
    assert_same_keyspace(&before, &keyspace(&mut c));
}

#[test]
fn info_persistence_has_the_aof_fields() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_aof(dir.path(), &[]);
    let mut c = s.conn();
    run(&mut c, &["SET", "k", "v"]);
    for (field, want) in [
        ("aof_enabled", Some("1")),
        ("aof_rewrite_in_progress", Some("0")),
        ("aof_rewrite_scheduled", Some("0")),
        ("aof_last_rewrite_time_sec", Some("-1")),
        ("aof_current_rewrite_time_sec", Some("-1")),
        ("aof_last_bgrewrite_status", Some("ok")),
        ("aof_rewrites", Some("0")),
        ("aof_last_write_status", Some("ok")),
        ("aof_current_size", None),
        ("aof_base_size", None),
    ] {
        let got = info_field(&mut c, field);
        match want {
            Some(w) => assert_eq!(got, w, "{field}"),
            None => assert!(got.parse::<u64>().is_ok(), "{field}:{got}"),
        }
    }
    assert!(info_int(&mut c, "aof_current_size") > 0);
}

/// While a big AOF loads, commands answer -LOADING and INFO shows the
/// progress fields of the RDB loader; then every key is there.
#[test]
fn loading_an_aof_shows_progress() {
    const N: u64 = 500_000;
    let dir = tempfile::tempdir().unwrap();
    {
        let s = start_aof(dir.path(), &ALWAYS);
        preload(&mut s.conn(), "k", N);
        kill9(s);
    }
    let s = launch(dir.path(), &["--appendonly", "yes"]);
    let (mut c, v, infos) = wait_loaded(&s, "k:1");
    assert_eq!(v, "1");
    eprintln!("{} replies were -LOADING", infos.len());
    assert!(!infos.is_empty(), "no -LOADING seen");
    let fields = [
        "loading:1",
        "loading_total_bytes:",
        "loading_loaded_bytes:",
        "loading_loaded_perc:",
        "loading_eta_seconds:",
    ];
    assert!(
        infos.iter().any(|i| fields.iter().all(|f| i.contains(f))),
        "INFO never showed the loading fields: {:?}",
        infos.last()
    );
    assert_eq!(int(&mut c, &["DBSIZE"]), N as i64);
    assert_eq!(info_field(&mut c, "loading"), "0");
}
