//! DUMP / RESTORE / RESTORE-ASKING / MIGRATE against redis-server 7.0:
//! payloads byte for byte, payloads crossing between the two servers in
//! both directions, RESTORE's options and errors, propagation to a
//! replica, and MIGRATE from either core to Redis and from Redis to us.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::time::Duration;

use common::dataset::{fill_redis, redis_view, run};
use common::repl::{redis_replica_of, Dataset, SYNC_LIMIT};
use common::*;
use redis::{Connection, Value};

/// A reply as text, errors as `code detail`, so replies of the two
/// servers compare with binary arguments.
fn call(c: &mut Connection, args: &[&[u8]]) -> String {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<Value>(c) {
        Ok(v) => format!("{v:?}"),
        Err(e) => format!("-{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")),
    }
}

fn dump(c: &mut Connection, key: &[u8]) -> Option<Vec<u8>> {
    redis::cmd("DUMP").arg(key).query(c).unwrap()
}

fn keys(c: &mut Connection) -> Vec<Vec<u8>> {
    let mut k: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(c).unwrap();
    k.sort();
    k
}

fn encoding(c: &mut Connection, key: &[u8]) -> String {
    redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg(key)
        .query(c)
        .unwrap()
}

/// Streams and HyperLogLogs on top of `fill_redis`: several stream nodes,
/// a deleted entry, consumer groups; a sparse and a dense HLL.
fn fill_more(c: &mut Connection) {
    for i in 1..=250 {
        run(
            c,
            &["XADD", "st:big", &format!("{i}-0"), "f", &i.to_string()],
        );
    }
    run(c, &["XADD", "st", "1-1", "a", "1"]);
    run(c, &["XADD", "st", "1-2", "b", "2", "c", "3"]);
    run(c, &["XADD", "st", "2-1", "a", "4"]);
    run(c, &["XDEL", "st", "1-2"]);
    run(c, &["XGROUP", "CREATE", "st", "g1", "0"]);
    run(c, &["XGROUP", "CREATE", "st", "g2", "$"]);
    run(c, &["PFADD", "hll:sparse", "a", "b", "c"]);
    let many: Vec<String> = (0..3000).map(|i| format!("e{i}")).collect();
    let mut pfadd = vec!["PFADD", "hll:dense"];
    pfadd.extend(many.iter().map(String::as_str));
    run(c, &pfadd);
}

fn filled(c: &mut Connection) {
    fill_redis(c, false);
    fill_more(c);
}

/// Hash tables iterate in an order of their own (Redis's is seeded at
/// random), so only their contents can be compared.
fn ordered_by_hash(enc: &str) -> bool {
    enc == "hashtable"
}

/// Values go through LZF when `rdbcompression` is on; Redis's liblzf
/// keeps its hash table uninitialised between calls, so its choices (and
/// thus the exact bytes) depend on earlier calls: bytes are compared with
/// compression off.
const NO_LZF: &[&str] = &["--rdbcompression", "no"];

#[test]
fn dump_is_redis_bytes_for_every_encoding() {
    let (ours, theirs) = (Server::start(NO_LZF), Server::redis(NO_LZF));
    let (mut a, mut b) = (ours.conn(), theirs.conn());
    filled(&mut a);
    filled(&mut b);
    let mut compared = 0;
    for db in ["0", "1", "9"] {
        q(&mut a, &["SELECT", db]);
        q(&mut b, &["SELECT", db]);
        let names = keys(&mut b);
        assert_eq!(keys(&mut a), names, "db {db}");
        for k in names {
            // Small sets of strings are listpacks here (as in Redis 7.2),
            // hash tables in Redis 7.0: both go out as plain sets.
            let enc = encoding(&mut b, &k);
            if ordered_by_hash(&enc) {
                continue;
            }
            let (ours, theirs) = (dump(&mut a, &k), dump(&mut b, &k));
            assert!(
                ours == theirs,
                "DUMP {} ({enc})\n redwing: {}\n   redis: {}",
                String::from_utf8_lossy(&k),
                shown(&ours.unwrap_or_default()),
                shown(&theirs.unwrap_or_default())
            );
            compared += 1;
        }
    }
    assert!(compared >= 25, "compared {compared} keys");
    assert_eq!(dump(&mut a, b"missing"), None);
}

/// Every key as seen from outside; streams by XINFO STREAM FULL.
fn everything(c: &mut Connection) -> (Dataset, Vec<String>) {
    let mut streams = Vec::new();
    for k in keys(c) {
        let ty: String = redis::cmd("TYPE").arg(&k).query(c).unwrap();
        if ty == "stream" {
            let mut full = redis::cmd("XINFO");
            full.arg("STREAM").arg(&k).arg("FULL");
            streams.push(format!("{:?}", full.query::<Value>(c).unwrap()));
        }
    }
    // `dataset` reads only the types it knows: drop the streams first.
    let mut plain = dataset_without_streams(c);
    plain.retain(|_, v| v.0 != "stream");
    (plain, streams)
}

fn dataset_without_streams(c: &mut Connection) -> Dataset {
    let mut all = Dataset::new();
    for k in keys(c) {
        let ty: String = redis::cmd("TYPE").arg(&k).query(c).unwrap();
        if ty != "stream" {
            let v = redis_view(c, &k);
            all.insert((0, k), (v.ty, v.items, v.expire));
        }
    }
    all
}

#[test]
fn payloads_cross_between_redis_and_redwing() {
    payloads_cross(NO_LZF, true);
    payloads_cross(&[], false);
}

fn payloads_cross(args: &[&str], same_bytes: bool) {
    let (ours, theirs) = (Server::start(args), Server::redis(args));
    let (mut a, mut b) = (ours.conn(), theirs.conn());
    filled(&mut b);
    // A pending entry and a consumer: times that only a payload carries.
    run(
        &mut b,
        &[
            "XREADGROUP",
            "GROUP",
            "g1",
            "alice",
            "COUNT",
            "1",
            "STREAMS",
            "st",
            ">",
        ],
    );
    run(&mut b, &["PERSIST", "h:small"]);
    run(&mut b, &["PERSIST", "ttl"]);
    // Redis's payloads load here, and dump back the same bytes.
    let names = keys(&mut b);
    for k in &names {
        let p = dump(&mut b, k).unwrap();
        let reply = call(&mut a, &[b"RESTORE", k, b"0", &p]);
        assert_eq!(reply, "ok", "{}", String::from_utf8_lossy(k));
        if same_bytes && !ordered_by_hash(&encoding(&mut b, k)) {
            assert!(
                dump(&mut a, k).unwrap() == p,
                "{}",
                String::from_utf8_lossy(k)
            );
        }
    }
    let theirs_seen = everything(&mut b);
    assert_eq!(everything(&mut a), theirs_seen);
    // And ours load in redis-server.
    q(&mut b, &["FLUSHALL"]);
    for k in &names {
        let p = dump(&mut a, k).unwrap();
        assert_eq!(call(&mut b, &[b"RESTORE", k, b"0", &p]), "ok");
    }
    assert_eq!(everything(&mut b), theirs_seen);
}

/// `body` (a type byte and value) with the footer of RDB `version`.
fn with_footer(body: &[u8], version: u16) -> Vec<u8> {
    use redwing::persistence::rdb::CRC64;
    let mut p = body.to_vec();
    p.extend_from_slice(&version.to_le_bytes());
    let crc = CRC64.checksum(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

#[test]
fn restore_options_and_errors_are_redis() {
    let (ours, theirs) = (Server::start(&[]), Server::redis(&[]));
    let mut b = theirs.conn();
    run(&mut b, &["SET", "src", "hello"]);
    let good = dump(&mut b, b"src").unwrap();
    let mut bad_crc = good.clone();
    *bad_crc.last_mut().unwrap() ^= 0xFF;
    let v11 = with_footer(&good[..good.len() - 10], 11);
    let garbage = with_footer(b"\x00\x40", 10);
    let past = "1000";
    let (k0, k1) = keys_on_two_cores("rk");
    for key in [k0.as_str(), k1.as_str()] {
        let k = key.as_bytes();
        let script: Vec<Vec<&[u8]>> = vec![
            vec![b"RESTORE", k, b"0", &good],
            vec![b"RESTORE", k, b"0", &good],
            vec![b"RESTORE", k, b"0", &good, b"REPLACE"],
            vec![b"GET", k],
            vec![b"RESTORE", k, b"-1", &good, b"REPLACE"],
            vec![b"RESTORE", k, b"abc", &good, b"REPLACE"],
            vec![b"RESTORE", k, b"0", b"short", b"REPLACE"],
            vec![b"RESTORE", k, b"0", &bad_crc, b"REPLACE"],
            vec![b"RESTORE", k, b"0", &v11, b"REPLACE"],
            vec![b"RESTORE", k, b"0", &garbage, b"REPLACE"],
            vec![b"RESTORE", k, b"0", &good, b"FOO"],
            vec![b"RESTORE", k, b"0", &good, b"IDLETIME", b"-1"],
            vec![b"RESTORE", k, b"0", &good, b"IDLETIME"],
            vec![b"RESTORE", k, b"0", &good, b"IDLETIME", b"x"],
            vec![b"RESTORE", k, b"0", &good, b"IDLETIME", b"1", b"FREQ", b"1"],
            vec![b"RESTORE", k, b"0", &good, b"FREQ", b"256"],
            vec![b"RESTORE", k, b"0", &good, b"REPLACE", b"IDLETIME", b"1000"],
            vec![b"OBJECT", b"IDLETIME", k],
            // An absolute time in the past: nothing stored, the old value
            // deleted.
            vec![b"RESTORE", k, past.as_bytes(), &good, b"ABSTTL", b"REPLACE"],
            vec![b"EXISTS", k],
            vec![b"RESTORE", k, past.as_bytes(), &good, b"ABSTTL"],
            vec![b"EXISTS", k],
            vec![b"RESTORE", k, b"4102444800000", &good, b"ABSTTL"],
            vec![b"PEXPIRETIME", k],
            vec![b"RESTORE-ASKING", k, b"0", &good, b"REPLACE"],
            vec![b"TTL", k],
            vec![b"DUMP", k],
            vec![b"RESTORE", k, b"0"],
            vec![b"DUMP", b"nokey"],
            vec![b"DEL", k],
        ];
        // From a connection on core 0: the first key on this core, the
        // second on the other.
        let mut a = ours.conn_on_core(0);
        for args in &script {
            let shown_args: Vec<String> = args
                .iter()
                .map(|x| String::from_utf8_lossy(&x[..x.len().min(12)]).into_owned())
                .collect();
            assert_eq!(call(&mut a, args), call(&mut b, args), "{shown_args:?}");
        }
    }
    command_rows_match(
        &ours,
        &theirs,
        &["dump", "restore", "restore-asking", "migrate"],
        6,
    );
}

#[test]
fn restore_freq_under_lfu_and_relative_ttl() {
    let args = ["--maxmemory-policy", "allkeys-lfu"];
    let (ours, theirs) = (Server::start(&args), Server::redis(&args));
    let (mut a, mut b) = (ours.conn(), theirs.conn());
    run(&mut b, &["SET", "src", "v"]);
    let p = dump(&mut b, b"src").unwrap();
    for c in [&mut a, &mut b] {
        assert_eq!(
            call(c, &[b"RESTORE", b"f", b"50000", &p, b"FREQ", b"100"]),
            "ok"
        );
        assert_eq!(call(c, &[b"OBJECT", b"FREQ", b"f"]), "int(100)");
        let ttl = int(c, &["PTTL", "f"]);
        assert!((49_000..=50_000).contains(&ttl), "{ttl}");
    }
}

#[test]
fn restore_and_migrate_reach_a_replica_as_redis_sends_them() {
    let master = Server::start(&[]);
    let replica = redis_replica_of(&master);
    let (mut m, mut r) = (master.conn(), replica.conn());
    run(&mut m, &["SET", "src", "v"]);
    let p = dump(&mut m, b"src").unwrap();
    assert_eq!(call(&mut m, &[b"RESTORE", b"timed", b"100000", &p]), "ok");
    assert_eq!(call(&mut m, &[b"RESTORE", b"gone", b"0", &p]), "ok");
    assert_eq!(
        call(
            &mut m,
            &[b"RESTORE", b"gone", b"1", &p, b"ABSTTL", b"REPLACE"]
        ),
        "ok"
    );
    let at = int(&mut m, &["PEXPIRETIME", "timed"]);
    // WAIT, not polling one key: the replica applies the stream as it
    // arrives, so "timed" can be there while the later writes to "gone"
    // are still on the wire.
    let limit = SYNC_LIMIT.as_millis().to_string();
    assert_eq!(int(&mut m, &["WAIT", "1", &limit]), 1);
    assert_eq!(int(&mut r, &["PEXPIRETIME", "timed"]), at);
    assert_eq!(int(&mut r, &["EXISTS", "gone"]), 0);
    // MIGRATE's deletions reach the replica as a DEL.
    let target = Server::redis(&[]);
    let (k0, k1) = keys_on_two_cores("mv");
    run(&mut m, &["MSET", &k0, "0", &k1, "1"]);
    wait_for("the replica to have both keys", SYNC_LIMIT, || {
        int(&mut r, &["EXISTS", &k0, &k1]) == 2
    });
    let port = target.port.to_string();
    let reply = q(&mut m, &migrate_keys(&port, &[], &[&k0, &k1]));
    assert_eq!(reply, "ok");
    wait_for("the replica to drop the migrated keys", SYNC_LIMIT, || {
        int(&mut r, &["EXISTS", &k0, &k1]) == 0
    });
    assert_eq!(int(&mut target.conn(), &["EXISTS", &k0, &k1]), 2);
}

/// MIGRATE to 127.0.0.1:`port`, database 0, with `opts`, of `keys`.
fn migrate_keys<'a>(port: &'a str, opts: &[&'a str], keys: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["MIGRATE", "127.0.0.1", port, "", "0", "5000"];
    args.extend_from_slice(opts);
    args.push("KEYS");
    args.extend_from_slice(keys);
    args
}

/// The same MIGRATE steps against a Redwing source and a redis-server
/// source (each with its own redis-server target): replies must match.
struct Pair {
    sources: [Server; 2],
    targets: [Server; 2],
}

impl Pair {
    fn new(target_args: &[&str]) -> Pair {
        Pair {
            sources: [Server::start(&[]), Server::redis(&[])],
            targets: [Server::redis(target_args), Server::redis(target_args)],
        }
    }

    /// Runs `args` on each source ($PORT is its target's port) from
    /// connection `conns[i]`; returns the common reply.
    fn both(&self, conns: &mut [Connection; 2], args: &[&str]) -> String {
        let replies: Vec<String> = (0..2)
            .map(|i| {
                let port = self.targets[i].port.to_string();
                let a: Vec<&str> = args
                    .iter()
                    .map(|&x| if x == "$PORT" { &port } else { x })
                    .collect();
                let a: Vec<&[u8]> = a.iter().map(|x| x.as_bytes()).collect();
                call(&mut conns[i], &a)
            })
            .collect();
        assert_eq!(replies[0], replies[1], "{args:?}");
        replies[0].clone()
    }

    fn targets(&self, args: &[&str]) -> String {
        let r: Vec<String> = self
            .targets
            .iter()
            .map(|t| q(&mut t.conn(), args))
            .collect();
        assert_eq!(r[0], r[1], "{args:?}");
        r[0].clone()
    }
}

const BUSY: &str = "Target instance replied with error: BUSYKEY Target key name already exists.";

#[test]
fn migrate_to_redis_from_either_core() {
    let pair = Pair::new(&[]);
    let (k0, k1) = keys_on_two_cores("mig");
    for core in [0, 1] {
        let mut c = [pair.sources[0].conn_on_core(core), pair.sources[1].conn()];
        let mut src = |args: &[&str]| pair.both(&mut c, args);
        for t in &pair.targets {
            q(&mut t.conn(), &["FLUSHALL"]);
        }
        src(&["FLUSHALL"]);
        src(&["SET", &k0, "v0", "PX", "100000"]);
        src(&["RPUSH", &k1, "a", "b", "c"]);
        let m = ["MIGRATE", "127.0.0.1", "$PORT", "", "3", "5000"];
        let keys = ["KEYS", k0.as_str(), k1.as_str(), "absent"];
        assert_eq!(src(&[&m[..], &keys[..]].concat()), "ok");
        assert_eq!(src(&["EXISTS", &k0, &k1]), "int(0)");
        let mut t = pair.targets[0].conn();
        q(&mut t, &["SELECT", "3"]);
        let list: Vec<String> = cmd(&["LRANGE", &k1, "0", "-1"]).query(&mut t).unwrap();
        assert_eq!(list, ["a", "b", "c"]);
        let ttl = int(&mut t, &["PTTL", &k0]);
        assert!((90_000..=100_000).contains(&ttl), "{ttl}");
        // Nothing left here: NOKEY.
        assert_eq!(
            src(&[&m[..], &keys[..]].concat()),
            "simple-string(\"NOKEY\")"
        );
        // COPY leaves the source as it was; a second copy is refused by
        // the target, REPLACE overwrites.
        src(&["SET", &k0, "again"]);
        src(&["SET", &k1, "again"]);
        let copy = [&m[..], &["COPY"], &keys[..]].concat();
        assert!(src(&copy).contains(BUSY), "{}", src(&copy));
        let replace = [&m[..], &["COPY", "REPLACE"], &keys[..]].concat();
        assert_eq!(src(&replace), "ok");
        assert_eq!(src(&["EXISTS", &k0, &k1]), "int(2)");
        assert_eq!(
            q(&mut t, &["GET", &k1]),
            q(&mut pair.sources[1].conn(), &["GET", &k1])
        );
        // Only the keys the target accepted leave the source: k1 is
        // refused (busy), k0 (deleted there first) is taken.
        q(&mut t, &["DEL", &k0]);
        for t in &pair.targets[1..] {
            let mut t = t.conn();
            q(&mut t, &["SELECT", "3"]);
            q(&mut t, &["DEL", &k0]);
        }
        let busy = src(&[&m[..], &keys[..]].concat());
        assert!(busy.contains(BUSY), "{busy}");
        assert_eq!(src(&["EXISTS", &k0]), "int(0)");
        assert_eq!(src(&["EXISTS", &k1]), "int(1)");
        // The single-key form, into database 0 (the cached link selects again).
        src(&["SET", &k0, "single"]);
        let one = ["MIGRATE", "127.0.0.1", "$PORT", &k0, "0", "5000"];
        assert_eq!(src(&one), "ok");
        assert!(pair.targets(&["GET", &k0]).contains("single"));
    }
}

#[test]
fn migrate_errors_are_redis() {
    let pair = Pair::new(&["--requirepass", "pw"]);
    let mut c = [pair.sources[0].conn(), pair.sources[1].conn()];
    let mut src = |args: &[&str]| pair.both(&mut c, args);
    src(&["SET", "k", "v"]);
    let closed = free_port().to_string();
    // Nothing listens there: Redis's connect only waits for writability,
    // so the first write fails.
    src(&["MIGRATE", "127.0.0.1", &closed, "k", "0", "500"]);
    // MIGRATE 127.0.0.1 <port> <key> ... with these endings.
    for (key, rest) in [
        ("k", &["0", "5000", "KEYS", "k"][..]),
        ("k", &["0", "5000", "BOGUS"]),
        ("k", &["0", "5000", "AUTH"]),
        ("k", &["0", "5000", "AUTH2", "u"]),
        ("k", &["0", "abc"]),
        ("k", &["x", "5000"]),
        ("k", &["0"]),
        ("missing", &["0", "5000"]),
        // Authentication refused: the key stays.
        ("k", &["0", "5000"]),
        ("k", &["0", "5000", "AUTH", "wrong"]),
        ("k", &["0", "5000", "AUTH2", "default", "wrong"]),
        ("k", &["99", "5000", "AUTH", "pw"]),
        ("k", &["0", "5000", "AUTH2", "default", "pw"]),
    ] {
        src(&[&["MIGRATE", "127.0.0.1", "$PORT", key][..], rest].concat());
        src(&["EXISTS", "k"]);
    }
    assert_eq!(pair.targets(&["AUTH", "pw"]), "ok");
    // A target that accepts and never answers: the timeout, and the key stays.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port().to_string();
    let hold = std::thread::spawn(move || {
        let mut held = Vec::new();
        silent.set_nonblocking(true).unwrap();
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < until && held.len() < 2 {
            if let Ok((mut s, _)) = silent.accept() {
                s.set_read_timeout(Some(Duration::from_millis(10))).ok();
                let _ = s.read(&mut [0u8; 64]);
                held.push(s);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_secs(2));
    });
    src(&["SET", "k", "v"]);
    let r = src(&["MIGRATE", "127.0.0.1", &port, "k", "0", "300"]);
    assert!(
        r.contains("error or timeout reading to target instance"),
        "{r}"
    );
    assert_eq!(src(&["EXISTS", "k"]), "int(1)");
    hold.join().unwrap();
}

#[test]
fn migrate_from_redis_to_redwing() {
    let (ours, theirs) = (Server::start(&[]), Server::redis(&[]));
    let (mut a, mut b) = (ours.conn(), theirs.conn());
    filled(&mut b);
    let names: Vec<String> = keys(&mut b)
        .into_iter()
        .map(|k| String::from_utf8(k).unwrap())
        .collect();
    let before = everything(&mut b);
    let port = ours.port.to_string();
    let keys: Vec<&str> = names.iter().map(String::as_str).collect();
    let args = migrate_keys(&port, &["COPY"], &keys);
    assert_eq!(q(&mut b, &args), "ok");
    let (mut got, streams) = everything(&mut a);
    // MIGRATE carries the remaining TTL: the deadline may move by the
    // time the transfer took.
    for (k, v) in before.0.iter() {
        let ours = got.remove(k).unwrap_or_else(|| panic!("{k:?} missing"));
        assert_eq!((&ours.0, &ours.1), (&v.0, &v.1), "{k:?}");
        assert!((ours.2 - v.2).abs() < 1000, "{k:?}: {} vs {}", ours.2, v.2);
    }
    assert!(got.is_empty());
    assert_eq!(streams, before.1);
    // Without COPY the keys leave redis-server.
    let args = migrate_keys(&port, &["REPLACE"], &keys);
    assert_eq!(q(&mut b, &args), "ok");
    assert_eq!(int(&mut b, &["DBSIZE"]), 0);
    assert_eq!(int(&mut a, &["DBSIZE"]), names.len() as i64);
}
