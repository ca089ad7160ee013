//! RDB persistence with real processes: SAVE/SHUTDOWN and restart keep
//! every key, TTL and encoding; redis-server 7.0 and redis-check-rdb accept
//! our dumps and we load theirs; BGSAVE under writes is a point-in-time
//! image; a damaged dump stops the server without being overwritten; the
//! `save` rules start a BGSAVE; function libraries are saved and loaded.
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::dataset::*;
use common::*;
use redis::Connection;
use redwing::persistence::rdb::{Item, RdbReader};

/// Every key of every database as seen from outside.
fn all_views(c: &mut Connection) -> BTreeMap<(u32, Vec<u8>), View> {
    let mut out = BTreeMap::new();
    for db in 0..16u32 {
        run(c, &["SELECT", &db.to_string()]);
        let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(c).unwrap();
        for k in keys {
            let v = redis_view(c, &k);
            // Expired since KEYS saw it.
            if v.ty != "none" {
                out.insert((db, k), v);
            }
        }
    }
    run(c, &["SELECT", "0"]);
    out
}

/// Redis 7.0 has no listpack sets: ours show as hashtable there.
fn as_redis_70(mut views: BTreeMap<(u32, Vec<u8>), View>) -> BTreeMap<(u32, Vec<u8>), View> {
    for v in views.values_mut() {
        if v.ty == "set" && v.encoding == "listpack" {
            v.encoding = "hashtable".into();
        }
    }
    views
}

fn start_in(dir: &Path, extra: &[&str]) -> Server {
    let mut args = vec!["--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    Server::start(&args)
}

fn check_rdb(path: &Path) {
    let out = Command::new("redis-check-rdb").arg(path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("RDB looks OK"), "redis-check-rdb: {text}");
}

#[test]
fn save_and_restart_keep_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let before;
    {
        let mut s = start_in(dir.path(), &[]);
        let mut c = s.conn();
        fill_redis(&mut c, false);
        before = all_views(&mut c);
        assert_eq!(cmd(&["SAVE"]).query::<String>(&mut c).unwrap(), "OK");
        // Written after SAVE: SHUTDOWN saves it (default save rules).
        run(&mut c, &["SET", "after-save", "x"]);
        let _ = cmd(&["SHUTDOWN"]).query::<redis::Value>(&mut c);
        wait_for("exit", TIMEOUT, || s.child.try_wait().unwrap().is_some());
        assert!(s.log_text().contains("DB saved on disk"));
    }
    check_rdb(&dir.path().join("dump.rdb"));
    let s = start_in(dir.path(), &[]);
    let mut c = s.conn();
    let mut after = all_views(&mut c);
    assert!(after.remove(&(0, b"after-save".to_vec())).is_some());
    assert_eq!(before.len(), after.len());
    for (k, v) in &before {
        assert_eq!(Some(v), after.get(k), "key {k:?}");
    }
    assert_eq!(info_field(&mut c, "loading"), "0");
    assert_eq!(
        info_field(&mut c, "rdb_last_load_keys_loaded"),
        (before.len() + 1).to_string()
    );
}

#[test]
fn redis_loads_our_dump() {
    let dir = tempfile::tempdir().unwrap();
    let ours = {
        let s = start_in(dir.path(), &["--save", ""]);
        let mut c = s.conn();
        fill_redis(&mut c, false);
        run(&mut c, &["SAVE"]);
        all_views(&mut c)
    };
    check_rdb(&dir.path().join("dump.rdb"));
    let r = Server::redis(&["--dir", dir.path().to_str().unwrap()]);
    let mut c = r.conn();
    assert_eq!(as_redis_70(ours), all_views(&mut c));
}

#[test]
fn we_load_a_redis_dump() {
    let dir = tempfile::tempdir().unwrap();
    let theirs = {
        let r = Server::redis(&["--dir", dir.path().to_str().unwrap()]);
        let mut c = r.conn();
        fill_redis(&mut c, false);
        run(&mut c, &["SAVE"]);
        all_views(&mut c)
    };
    let s = start_in(dir.path(), &["--save", ""]);
    let mut c = s.conn();
    assert_eq!(theirs, as_redis_70(all_views(&mut c)));
}

/// One client writes, in order and each acknowledged before the next, for
/// i = 0, 1, ...: `DEL old:<i>` (every fifth i: `RENAME old:<i> gone:<i>`),
/// then `SET seq:<i>` (every fifth i followed by `RENAME seq:<i> ren:<i>`).
/// The keys spread over both cores, so many renames take the coordinated
/// path. A point-in-time image is the state after some step n: it holds
/// i = 0..n as seq:i or ren:i, old:m.. with m = n or n+1, and gone:i for
/// the fifth i below m. A core serialized "later" than another, or a write
/// that skipped copy-before-write, breaks one of these.
#[test]
fn bgsave_under_writes_is_point_in_time() {
    const PRELOAD: u64 = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let s = start_in(dir.path(), &["--save", ""]);
    let mut c = s.conn();
    preload(&mut c, "old", PRELOAD);
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, written) = (stop.clone(), written.clone());
        let mut w = s.conn();
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) && i < PRELOAD {
                let old = format!("old:{i}");
                if i.is_multiple_of(5) {
                    run(&mut w, &["RENAME", &old, &format!("gone:{i}")]);
                } else {
                    run(&mut w, &["DEL", &old]);
                }
                run(&mut w, &["SET", &format!("seq:{i}"), &i.to_string()]);
                if i.is_multiple_of(5) {
                    run(
                        &mut w,
                        &["RENAME", &format!("seq:{i}"), &format!("ren:{i}")],
                    );
                }
                i += 1;
                written.store(i, Ordering::Relaxed);
            }
        })
    };
    wait_for("writes", TIMEOUT, || written.load(Ordering::Relaxed) > 100);
    let at_start = written.load(Ordering::Relaxed);
    // A second BGSAVE in the same write (the first cannot have finished
    // 200 000 keys by then) is refused.
    let mut raw = RawClient::new(&s);
    raw.send_many(&[&["BGSAVE"], &["BGSAVE"]]);
    assert_eq!(raw.read(), "+Background saving started\r\n");
    assert_eq!(raw.read(), "-ERR Background save already in progress\r\n");
    wait_for("bgsave", Duration::from_secs(60), || {
        info_field(&mut c, "rdb_bgsave_in_progress") == "0"
    });
    let at_end = written.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);

    writer.join().unwrap();
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    let f = std::fs::File::open(dir.path().join("dump.rdb")).unwrap();
    let mut keys: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for item in RdbReader::new(std::io::BufReader::new(f)).unwrap() {
        if let (_, Item::Entry(e)) = item.unwrap() {
            let k = String::from_utf8(e.key).unwrap();
            let (prefix, n) = k.split_once(':').unwrap();
            keys.entry(prefix.to_string())
                .or_default()
                .push(n.parse().unwrap());
        }
    }
    let mut get = |p: &str| {
        let mut v = keys.remove(p).unwrap_or_default();
        v.sort();
        v
    };
    let (seq, ren, old, gone) = (get("seq"), get("ren"), get("gone"), get("old"));
    let (old, gone) = (gone, old);
    let mut present: Vec<u64> = seq.iter().chain(&ren).copied().collect();
    present.sort();
    let n = present.len() as u64;
    eprintln!("writes at BGSAVE {at_start}, at end {at_end}, snapshot after step {n}");
    same(&present, 0..n, "seq/ren keys");
    let m = PRELOAD - old.len() as u64;
    same(&old, m..PRELOAD, "old keys");
    assert!(m == n || m == n + 1, "steps {n}, old keys gone {m}");
    let fifths = |end: u64| (0..end).filter(|i| i % 5 == 0);
    same(&gone, fifths(m), "gone keys");
    // The last step's rename may not have happened yet.
    let ren: Vec<u64> = ren.into_iter().filter(|&i| i + 1 < n).collect();
    same(&ren, fifths(n.saturating_sub(1)), "ren keys");
    assert!(
        (at_start..=at_end).contains(&n),
        "snapshot at {n}, writes {at_start}..{at_end}"
    );
    check_rdb(&dir.path().join("dump.rdb"));
}

/// BGSAVE SCHEDULE as Redis 7.0 answers it, on both servers: during a
/// BGSAVE it is refused like a plain BGSAVE; during a BGREWRITEAOF it
/// answers "scheduled" (a plain BGSAVE is refused) and the save runs once
/// the rewrite is done; with nothing running it starts a save.
#[test]
fn bgsave_schedule_as_redis() {
    const STARTED: &str = "+Background saving started\r\n";
    const IN_PROGRESS: &str = "-ERR Background save already in progress\r\n";
    for oracle in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let args = ["--dir", dir.path().to_str().unwrap(), "--save", ""];
        let s = if oracle {
            Server::redis(&args)
        } else {
            Server::start(&args)
        };
        let mut c = s.conn();
        preload(&mut c, "k", 200_000);
        let saves = |c: &mut Connection, n: &str| {
            wait_for(
                &format!("save {n} ({oracle})"),
                Duration::from_secs(60),
                || {
                    info_field(c, "rdb_saves") == n
                        && info_field(c, "rdb_bgsave_in_progress") == "0"
                        && info_field(c, "aof_rewrite_in_progress") == "0"
                },
            )
        };
        // In one write each: the first cannot have finished 200 000 keys
        // when the others arrive.
        let mut raw = RawClient::new(&s);
        raw.send_many(&[&["BGSAVE"], &["BGSAVE", "SCHEDULE"], &["BGSAVE"]]);
        let got: Vec<String> = (0..3).map(|_| raw.read()).collect();
        assert_eq!(got, [STARTED, IN_PROGRESS, IN_PROGRESS], "oracle: {oracle}");
        saves(&mut c, "1");
        raw.send_many(&[&["BGREWRITEAOF"], &["BGSAVE", "SCHEDULE"], &["BGSAVE"]]);
        let got: Vec<String> = (0..3).map(|_| raw.read()).collect();
        assert_eq!(
            got,
            [
                "+Background append only file rewriting started\r\n",
                "+Background saving scheduled\r\n",
                "-ERR Another child process is active (AOF?): can't BGSAVE right now. \
                 Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.\r\n",
            ],
            "oracle: {oracle}"
        );
        saves(&mut c, "2");
        assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
        assert_eq!(raw.call(&["BGSAVE", "SCHEDULE"]), STARTED);
        saves(&mut c, "3");
        check_rdb(&dir.path().join("dump.rdb"));
    }
}

/// FLUSHALL, FLUSHDB and SWAPDB during a BGSAVE abort it (README,
/// differences from Redis): no dump is written, the status stays ok, and
/// the next save writes the new state.
#[test]
fn flushes_and_swapdb_abort_a_running_bgsave() {
    for (verb, args) in [
        ("FLUSHALL", &["FLUSHALL"][..]),
        ("FLUSHDB", &["FLUSHDB"]),
        ("SWAPDB", &["SWAPDB", "0", "1"]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let s = start_in(dir.path(), &["--save", ""]);
        let mut c = s.conn();
        preload(&mut c, "k", 200_000);
        // In one write: the save cannot have finished 200 000 keys when
        // the flush arrives.
        let mut raw = RawClient::new(&s);
        raw.send_many(&[&["BGSAVE"], args]);
        assert_eq!(raw.read(), "+Background saving started\r\n");
        assert_eq!(raw.read(), "+OK\r\n");
        wait_for("bgsave", Duration::from_secs(30), || {
            info_field(&mut c, "rdb_bgsave_in_progress") == "0"
        });
        let dump = dir.path().join("dump.rdb");
        assert!(
            s.log_text()
                .contains(&format!("Background saving aborted by {verb}")),
            "{verb}"
        );
        assert!(!dump.exists(), "{verb}");
        assert_eq!(info_field(&mut c, "rdb_saves"), "0", "{verb}");
        assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok", "{verb}");
        run(&mut c, &["FLUSHALL"]);
        run(&mut c, &["SET", "after", "1"]);
        run(&mut c, &["SAVE"]);
        let keys: Vec<Vec<u8>> = RdbReader::new(std::fs::File::open(&dump).unwrap())
            .unwrap()
            .filter_map(|i| match i.unwrap().1 {
                Item::Entry(e) => Some(e.key),
                _ => None,
            })
            .collect();
        assert_eq!(keys, [b"after".to_vec()], "{verb}");
    }
}

fn same(got: &[u64], want: impl Iterator<Item = u64>, what: &str) {
    let want: Vec<u64> = want.collect();
    if let Some(i) = (0..got.len().max(want.len())).find(|&i| got.get(i) != want.get(i)) {
        panic!(
            "{what}: {} numbers, {} expected; first difference at {i}: {:?} vs {:?}",
            got.len(),
            want.len(),
            got.get(i),
            want.get(i)
        );
    }
}

#[test]
fn damaged_dump_stops_start_and_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = start_in(dir.path(), &["--save", ""]);
        let mut c = s.conn();
        fill_redis(&mut c, false);
        run(&mut c, &["SAVE"]);
    }
    let path = dir.path().join("dump.rdb");
    let good = std::fs::read(&path).unwrap();
    for (what, bytes) in [
        ("truncated", good[..good.len() / 2].to_vec()),
        ("corrupt", {
            let mut b = good.clone();
            let at = b.len() - 20;
            b[at] ^= 0xff;
            b
        }),
    ] {
        std::fs::write(&path, &bytes).unwrap();
        // `timeout` bounds the run: 124 would mean the server started.
        let out = Command::new("timeout")
            .args(["10", redwing_bin(), "--port", &free_port().to_string()])
            .args(["--bind", "127.0.0.1", "--dir", dir.path().to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{what}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(path.to_str().unwrap()) && text.contains("at offset"),
            "{what}: {text}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{what}: file changed");
    }
}

#[test]
fn save_rules_start_a_bgsave() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_in(dir.path(), &["--save", "1 2"]);
    let mut c = s.conn();
    assert_eq!(
        cmd(&["CONFIG", "GET", "save"])
            .query::<Vec<String>>(&mut c)
            .unwrap(),
        ["save", "1 2"]
    );
    run(&mut c, &["SET", "a", "1"]);
    run(&mut c, &["SET", "b", "1"]);
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "2");
    wait_for("rule", Duration::from_secs(5), || {
        info_field(&mut c, "rdb_saves") == "1"
    });
    assert!(s.log_text().contains("2 changes in 1 seconds. Saving..."));
    assert!(s
        .log_text()
        .contains("Background saving terminated with success"));
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    let last: i64 = int(&mut c, &["LASTSAVE"]);
    assert_eq!(info_field(&mut c, "rdb_last_save_time"), last.to_string());
    assert!(dir.path().join("dump.rdb").exists());
    run(&mut c, &["CONFIG", "SET", "save", ""]);
    assert!(cmd(&["CONFIG", "SET", "save", "1"])
        .query::<()>(&mut c)
        .is_err());
}

/// While the dump loads, commands that need data answer -LOADING and INFO
/// shows the progress; then everything is there.
#[test]
fn commands_wait_for_loading() {
    const N: usize = 400_000;
    let dir = tempfile::tempdir().unwrap();
    {
        let s = start_in(dir.path(), &["--save", ""]);
        let mut c = s.conn();
        preload(&mut c, "k", N as u64);
        run(&mut c, &["SAVE"]);
    }
    let port = free_port();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("server.log");
    // Killed on drop, also when the test fails.
    let server = Server {
        port,
        host: "127.0.0.1".into(),
        child: Command::new(redwing_bin())
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", dir.path().to_str().unwrap(), "--save", ""])
            .stdout(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
        dir: logs,
        log,
    };
    let (mut c, v, infos) = wait_loaded(&server, "k:1");
    assert_eq!(v, "1");
    assert!(
        infos
            .iter()
            .any(|i| i.contains("loading:1") && i.contains("loading_loaded_perc:")),
        "no -LOADING with progress seen ({} -LOADING)",
        infos.len()
    );
    assert_eq!(int(&mut c, &["DBSIZE"]), N as i64);
    assert_eq!(info_field(&mut c, "loading"), "0");
}

/// A failed BGSAVE: status err, writes refused with -MISCONF while
/// stop-writes-on-bgsave-error is on; a successful save clears it.
#[test]
fn failed_bgsave_refuses_writes() {
    let gone = tempfile::tempdir().unwrap();
    let s = start_in(gone.path(), &["--save", "3600 1"]);
    let mut c = s.conn();
    run(&mut c, &["SET", "a", "1"]);
    std::fs::remove_dir_all(gone.path()).unwrap();
    run(&mut c, &["BGSAVE"]);
    wait_for("failure", TIMEOUT, || {
        info_field(&mut c, "rdb_last_bgsave_status") == "err"
    });
    assert!(s.log_text().contains("Background saving error"));
    let e = cmd(&["SET", "a", "2"]).query::<()>(&mut c).unwrap_err();
    assert_eq!(e.code(), Some("MISCONF"), "{e}");
    assert_eq!(cmd(&["GET", "a"]).query::<String>(&mut c).unwrap(), "1");
    run(
        &mut c,
        &["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"],
    );
    run(&mut c, &["SET", "a", "3"]);
    run(
        &mut c,
        &["CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"],
    );
    std::fs::create_dir_all(gone.path()).unwrap();
    run(&mut c, &["BGSAVE"]);
    wait_for("success", TIMEOUT, || {
        info_field(&mut c, "rdb_last_bgsave_status") == "ok"
    });
    run(&mut c, &["SET", "a", "4"]);
}

const LIBRARY: &str = "#!lua name=counters\nredis.register_function('bump', function(keys) return redis.call('incr', keys[1]) end)";

/// Function libraries are part of the dump: they survive a restart, and
/// redis-server loads them from our file.
#[test]
fn function_libraries_are_saved_and_loaded() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = start_in(dir.path(), &["--save", ""]);
        let mut c = s.conn();
        let name: String = cmd(&["FUNCTION", "LOAD", LIBRARY]).query(&mut c).unwrap();
        assert_eq!(name, "counters");
        run(&mut c, &["SAVE"]);
    }
    check_rdb(&dir.path().join("dump.rdb"));
    {
        let s = start_in(dir.path(), &["--save", ""]);
        let mut c = s.conn();
        assert_eq!(int(&mut c, &["FCALL", "bump", "1", "n"]), 1);
    }
    let r = Server::redis(&["--dir", dir.path().to_str().unwrap()]);
    let mut c = r.conn();
    assert_eq!(int(&mut c, &["FCALL", "bump", "1", "n"]), 1);
}
