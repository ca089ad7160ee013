//! Replication tests' shared parts: a dataset compared key by key, INFO
//! fields, a redis-server replica, and writes of every kind a master
//! streams (used by the master-side and the replica-side tests).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use super::dataset::redis_view;
use super::*;

pub const SYNC_LIMIT: Duration = Duration::from_secs(30);

/// Every key of every database and what it looks like from outside
/// (type, content, expiry time; encodings may differ between servers).
pub type Dataset = BTreeMap<(i64, Vec<u8>), (String, Vec<Vec<u8>>, i64)>;

pub fn dataset(c: &mut redis::Connection) -> Dataset {
    let mut all = BTreeMap::new();
    for db in 0..16 {
        q(c, &["SELECT", &db.to_string()]);
        let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(c).unwrap();
        for k in keys {
            let v = redis_view(c, &k);
            // Deleted between KEYS and TYPE while the stream is applied.
            if v.ty != "none" {
                all.insert((db, k), (v.ty, v.items, v.expire));
            }
        }
    }
    q(c, &["SELECT", "0"]);
    all
}

pub fn info(c: &mut redis::Connection, section: &str) -> String {
    redis::cmd("INFO").arg(section).query(c).unwrap()
}

pub fn field(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
}

/// A redis-server replica of `master`, waited for until its link is up.
pub fn redis_replica_of(master: &Server) -> Server {
    let port = master.port.to_string();
    let r = Server::redis(&["--replicaof", "127.0.0.1", &port]);
    let mut c = r.conn();
    wait_for("the replica's link to come up", SYNC_LIMIT, || {
        field(&info(&mut c, "replication"), "master_link_status").as_deref() == Some("up")
    });
    r
}

/// A Redwing replica of the server at `port` (started with `replicaof`),
/// waited for until its link is up.
pub fn redwing_replica_of(port: u16, extra: &[&str]) -> Server {
    let port = port.to_string();
    let mut args = vec!["--replicaof", "127.0.0.1", &port];
    args.extend_from_slice(extra);
    let r = Server::start(&args);
    wait_link_up(&r);
    r
}

pub fn wait_link_up(s: &Server) {
    let mut c = s.conn();
    wait_for("the replica's link to come up", SYNC_LIMIT, || {
        field(&info(&mut c, "replication"), "master_link_status").as_deref() == Some("up")
    });
}

pub fn wait_equal(master: &mut redis::Connection, replica: &mut redis::Connection, what: &str) {
    let mut last = (BTreeMap::new(), BTreeMap::new());
    let mut ok = false;
    for _ in 0..500 {
        let m = dataset(master);
        let r = dataset(replica);
        if m == r {
            ok = true;
            break;
        }
        last = (m, r);
        std::thread::sleep(Duration::from_millis(20));
    }
    if !ok {
        let (m, r) = last;
        let differ: Vec<_> = m
            .keys()
            .chain(r.keys())
            .filter(|k| m.get(*k) != r.get(*k))
            .take(5)
            .map(|k| {
                (
                    String::from_utf8_lossy(&k.1).into_owned(),
                    m.get(k),
                    r.get(k),
                )
            })
            .collect();
        panic!(
            "{what}: datasets differ (master {} keys, replica {}): {differ:?}",
            m.len(),
            r.len()
        );
    }
}

/// Writes of every kind the master journals: on each core, across cores
/// (split MSET, MULTI/EXEC, a script), in another database, with TTLs and
/// the commands rewritten for the stream (SPOP, INCRBYFLOAT, EXPIRE).
pub fn live_writes(master: &Server, tag: &str) {
    let (k0, k1) = keys_on_two_cores(&format!("{tag}:"));
    let mut c0 = master.conn_on_core(0);
    let mut c1 = master.conn_on_core(1);
    for (c, k) in [(&mut c0, &k0), (&mut c1, &k1)] {
        q(c, &["SET", k, "v"]);
        q(c, &["APPEND", k, "+more"]);
        q(c, &["RPUSH", &format!("{{{k}}}:l"), "a", "b", "c"]);
        q(c, &["INCRBYFLOAT", &format!("{{{k}}}:f"), "1.5"]);
        q(c, &["SADD", &format!("{{{k}}}:s"), "x", "y", "z"]);
        q(c, &["SPOP", &format!("{{{k}}}:s")]);
        q(c, &["HSET", &format!("{{{k}}}:h"), "f", "1"]);
        q(c, &["ZADD", &format!("{{{k}}}:z"), "1", "m"]);
        q(c, &["SET", &format!("{{{k}}}:ttl"), "t"]);
        q(c, &["EXPIRE", &format!("{{{k}}}:ttl"), "1000"]);
    }
    // Across cores, from each side.
    for c in [&mut c0, &mut c1] {
        q(c, &["MSET", &k0, "m0", &k1, "m1"]);
        let r: Vec<redis::Value> = redis::pipe()
            .atomic()
            .cmd("INCR")
            .arg(format!("{k0}:n"))
            .cmd("INCR")
            .arg(format!("{k1}:n"))
            .cmd("RENAME")
            .arg(format!("{{{k0}}}:l"))
            .arg(format!("{{{k0}}}:l2"))
            .query(c)
            .unwrap();
        assert_eq!(r.len(), 3);
        q(
            c,
            &["RENAME", &format!("{{{k0}}}:l2"), &format!("{{{k0}}}:l")],
        );
        q(
            c,
            &[
                "EVAL",
                "redis.call('INCR', KEYS[1]); redis.call('INCR', KEYS[2]); return 1",
                "2",
                &format!("{k0}:e"),
                &format!("{k1}:e"),
            ],
        );
    }
    q(
        &mut c0,
        &["SMOVE", &format!("{{{k0}}}:s"), &format!("{{{k1}}}:s"), "x"],
    );
    q(
        &mut c0,
        &["DEL", &format!("{{{k1}}}:z"), &format!("{{{k0}}}:z")],
    );
    // Another database.
    q(&mut c1, &["SELECT", "3"]);
    q(&mut c1, &["SET", &k0, "db3"]);
    q(&mut c1, &["MSET", &k0, "db3a", &k1, "db3b"]);
}
