//! Lua scripting against real servers: replies and errors compared with
//! redis-server, scripts touching keys on both cores (declared or not),
//! SCRIPT KILL of a busy script, functions, and transfers by EVAL that
//! never show a changed total.

mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn eval_replies_and_errors_match_redis() {
    let ours = Server::start(&[]);
    let redis = Server::redis(&[]);
    let (k0, k1) = keys_on_two_cores("s:");
    let steps: Vec<Vec<&str>> = vec![
        vec!["EVAL", "return 1", "0"],
        vec!["EVAL", "return {1, 'two', {3}, nil, 5}", "0"],
        vec!["EVAL", "return 3.99", "0"],
        vec!["EVAL", "return true", "0"],
        vec!["EVAL", "return false", "0"],
        vec!["EVAL", "return nil", "0"],
        vec!["EVAL", "return redis.status_reply('FINE')", "0"],
        vec!["EVAL", "return redis.error_reply('MY bad')", "0"],
        vec!["EVAL", "return {err='E2 custom'}", "0"],
        vec!["EVAL", "return x", "0"],
        vec!["EVAL", "error('boom')", "0"],
        vec!["EVAL", "return redis.call('nosuch')", "0"],
        vec!["EVAL", "return redis.pcall('incr', KEYS[1])", "1", "str"],
        vec!["EVAL", "redis.call('set', KEYS[1], 'v'); return redis.call('get', KEYS[1])", "1", "str"],
        vec!["EVAL", "return redis.pcall('incr', KEYS[1])", "1", "str"],
        vec!["EVAL", "return redis.call('incr', KEYS[1])", "1", "str"],
        vec!["EVAL", "return 1", "-1"],
        vec!["EVAL", "return 1", "3", "a"],
        vec!["EVAL", "return 1", "x"],
        vec!["EVAL", "return {KEYS[1], KEYS[2], ARGV[1]}", "2", &k0, &k1, "arg"],
        vec!["EVAL", "return redis.call('mget', KEYS[1], KEYS[2])", "2", &k0, &k1],
        vec!["EVAL_RO", "return redis.call('set', KEYS[1], 1)", "1", &k0],
        vec!["EVAL_RO", "return redis.call('get', KEYS[1])", "1", &k0],
        vec!["EVAL", "#!lua flags=no-writes\nreturn redis.call('set', KEYS[1], 1)", "1", &k0],
        vec!["EVAL", "#!lua flags=bogus\nreturn 1", "0"],
        vec!["EVAL", "return cjson.encode({a=1})", "0"],
        vec!["EVAL", "return redis.sha1hex('abc')", "0"],
        vec!["SCRIPT", "LOAD", "return 'loaded'"],
        vec!["EVALSHA", "09b5e11a4d5a2b7b4ac3cd0a29d4d61c9aebf4e5", "0"],
        vec!["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"],
        vec!["SCRIPT", "EXISTS", "09b5e11a4d5a2b7b4ac3cd0a29d4d61c9aebf4e5", "ff"],
        vec!["SCRIPT", "FLUSH"],
        vec!["SCRIPT", "EXISTS", "09b5e11a4d5a2b7b4ac3cd0a29d4d61c9aebf4e5"],
        vec!["SCRIPT", "KILL"],
        vec!["EVAL", "return redis.call('blpop', 'l', 0)", "0"],
        vec!["EVAL", "return redis.call('ping')", "0"],
        vec!["EVAL", "return redis.call('echo', 'hi')", "0"],
        vec!["EVAL", "return #redis.call('time')", "0"],
        vec!["EVAL", "redis.call('select', 5); redis.call('set', 'in5', 'x'); return redis.call('get', 'in5')", "0"],
        vec!["EXISTS", "in5"],
    ];
    for resp3 in [false, true] {
        let mut a = RawClient::new(&ours);
        let mut b = RawClient::new(&redis);
        if resp3 {
            a.call(&["HELLO", "3"]);
            b.call(&["HELLO", "3"]);
            a.call(&["DEL", "str"]);
            b.call(&["DEL", "str"]);
        }
        for step in &steps {
            assert_eq!(a.call(step), b.call(step), "{step:?} resp3={resp3}");
        }
    }
}

#[test]
fn scripts_reach_keys_on_every_core_declared_or_not() {
    let s = Server::start(&[]);
    let (k0, k1) = keys_on_two_cores("acct:");
    let mut c = s.conn();
    q(&mut c, &["SET", &k0, "10"]);
    q(&mut c, &["SET", &k1, "20"]);
    // Declared keys on both cores.
    let got = q(
        &mut c,
        &[
            "EVAL",
            "redis.call('decrby', KEYS[1], 5); redis.call('incrby', KEYS[2], 5); return redis.call('mget', KEYS[1], KEYS[2])",
            "2",
            &k0,
            &k1,
        ],
    );
    assert!(got.contains("\"5\"") && got.contains("\"25\""), "{got}");
    // Undeclared keys on both cores (numkeys 0), reads then writes.
    let script = format!(
        "local a = tonumber(redis.call('get', '{k0}')); local b = tonumber(redis.call('get', '{k1}')); redis.call('set', '{k0}', b); redis.call('set', '{k1}', a); return a + b"
    );
    assert_eq!(int(&mut c, &["EVAL", &script, "0"]), 30);
    assert_eq!(q(&mut c, &["GET", &k0]), q(&mut c, &["ECHO", "25"]));
    // Every family from a script.
    let fam = "redis.call('lpush', KEYS[1], 'a', 'b'); redis.call('hset', KEYS[2], 'f', 'v'); \
               redis.call('sadd', 'set:x', 'm'); redis.call('zadd', 'z:y', 1, 'q'); \
               return {redis.call('llen', KEYS[1]), redis.call('hget', KEYS[2], 'f'), \
               redis.call('scard', 'set:x'), redis.call('zscore', 'z:y', 'q')}";
    let got = q(&mut c, &["EVAL", fam, "2", "list:1", "hash:1"]);
    assert!(
        got.contains("int(2)") && got.contains("\"v\"") && got.contains("\"1\""),
        "{got}"
    );
}

#[test]
fn busy_script_gets_busy_replies_and_script_kill() {
    let s = Server::start(&[]);
    let mut admin = s.conn();
    q(
        &mut admin,
        &["CONFIG", "SET", "busy-reply-threshold", "100"],
    );
    let url = s.url();
    let runner = std::thread::spawn(move || {
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        q(&mut c, &["EVAL", "while true do end", "0"])
    });
    // Find a connection served by the other core: it answers -BUSY.
    let deadline = Instant::now() + TIMEOUT;
    let mut killer = loop {
        assert!(Instant::now() < deadline, "no -BUSY reply seen");
        let mut r = RawClient::new(&s);
        r.send(&["PING"]);
        match r.read_within(Duration::from_millis(200)) {
            Some(reply) if reply.starts_with("-BUSY") => break r,
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    assert_eq!(killer.call(&["SCRIPT", "KILL"]), "+OK\r\n");
    let got = runner.join().unwrap();
    assert!(
        got.contains("Script killed by user with SCRIPT KILL"),
        "{got}"
    );
    assert_eq!(killer.call(&["PING"]), "+PONG\r\n");
    assert!(s.log_text().contains("Slow script detected"));
}

#[test]
fn functions_load_call_list_delete() {
    let ours = Server::start(&[]);
    let redis = Server::redis(&[]);
    let lib = "#!lua name=bank\nredis.register_function('deposit', function(keys, args) return redis.call('incrby', keys[1], args[1]) end)\nredis.register_function{function_name='balance', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}";
    let steps: Vec<Vec<&str>> = vec![
        vec!["FUNCTION", "LOAD", lib],
        vec!["FUNCTION", "LOAD", lib],
        vec!["FCALL", "deposit", "1", "acct", "5"],
        vec!["FCALL", "deposit", "1", "acct", "7"],
        vec!["FCALL_RO", "balance", "1", "acct"],
        vec!["FCALL_RO", "deposit", "1", "acct", "1"],
        vec!["FCALL", "nosuch", "0"],
        vec!["FUNCTION", "LOAD", "REPLACE", lib],
        vec!["FUNCTION", "DELETE", "bank"],
        vec!["FUNCTION", "DELETE", "bank"],
        vec!["FCALL", "deposit", "1", "acct", "5"],
        vec!["FUNCTION", "LOAD", "return 1"],
        vec!["FUNCTION", "LOAD", lib],
    ];
    let mut a = RawClient::new(&ours);
    let mut b = RawClient::new(&redis);
    for step in &steps {
        assert_eq!(a.call(step), b.call(step), "{step:?}");
    }
    // FUNCTION LIST lists functions in hash order; compare the contents.
    let list = a.call(&["FUNCTION", "LIST", "WITHCODE"]);
    for part in [
        "$4\r\nbank\r\n",
        "$7\r\ndeposit\r\n",
        "$7\r\nbalance\r\n",
        "+no-writes\r\n",
        "library_code",
    ] {
        assert!(list.contains(part), "{part} in {list}");
    }
    // DUMP/RESTORE round trip, and payloads exchanged with redis-server
    // both ways.
    let mut ca = ours.conn();
    let mut cb = redis.conn();
    let ours_dump: Vec<u8> = redis::cmd("FUNCTION").arg("DUMP").query(&mut ca).unwrap();
    let redis_dump: Vec<u8> = redis::cmd("FUNCTION").arg("DUMP").query(&mut cb).unwrap();
    for dump in [&ours_dump, &redis_dump] {
        for c in [&mut ca, &mut cb] {
            q(c, &["FUNCTION", "FLUSH"]);
            let r: String = redis::cmd("FUNCTION")
                .arg("RESTORE")
                .arg(dump)
                .query(c)
                .unwrap();
            assert_eq!(r, "OK");
            assert_eq!(int(c, &["FCALL", "deposit", "1", "acct2", "4"]), 4);
            q(c, &["DEL", "acct2"]);
        }
    }
    let again = redis::cmd("FUNCTION")
        .arg("RESTORE")
        .arg(&ours_dump)
        .query::<String>(&mut ca);
    let again_b = redis::cmd("FUNCTION")
        .arg("RESTORE")
        .arg(&ours_dump)
        .query::<String>(&mut cb);
    assert_eq!(format!("{again:?}"), format!("{again_b:?}"));
    let mut bad = ours_dump.clone();
    bad[3] ^= 1;
    let e = redis::cmd("FUNCTION")
        .arg("RESTORE")
        .arg(bad)
        .query::<String>(&mut ca);
    assert!(
        format!("{e:?}").contains("payload version or checksum are wrong"),
        "{e:?}"
    );
}

/// Transfers by EVAL between accounts on both cores while readers sum
/// every balance in one script: the total never changes.
#[test]
fn eval_transfers_keep_the_total() {
    let s = Server::start(&["--threads", "2"]);
    let (accounts, total) = accounts(&s, 8);
    let mut c = s.conn();
    let stop = Arc::new(AtomicBool::new(false));
    let threads = transfer_threads(&s, &accounts, 3, &stop, |c, from, to| {
        let transfer =
            "redis.call('decrby', KEYS[1], ARGV[1]); return redis.call('incrby', KEYS[2], ARGV[1])";
        int(c, &["EVAL", transfer, "2", from, to, "3"]);
        true
    });
    let sum = "local s = 0 for _, k in ipairs(KEYS) do s = s + tonumber(redis.call('get', k)) end return s";
    let mut args: Vec<&str> = vec!["EVAL", sum, "8"];
    args.extend(accounts.iter().map(String::as_str));
    let mut reads = 0;
    let deadline = Instant::now() + Duration::from_secs(4);
    while Instant::now() < deadline {
        assert_eq!(int(&mut c, &args), total, "a script saw a partial transfer");
        reads += 1;
    }
    let moved = stop_transfers(&stop, threads);
    assert_eq!(int(&mut c, &args), total);
    // Correctness only (throughput is bench/'s business).
    assert!(moved > 0 && reads > 0, "moved {moved}, reads {reads}");
}

/// Wide scripts (keys on both cores) from many clients on both cores at
/// once: those waiting on one core run together in one hand-off of the
/// cores (`run_wide`'s session). Each client must get its own script's
/// reply, and every script must have run exactly once.
#[test]
fn concurrent_wide_scripts_each_get_their_own_reply() {
    let s = Server::start(&["--threads", "2"]);
    let (lo, hi) = ("{acct}:lo", "acct:0");
    assert_ne!(
        redwing::storage::key_slot(lo.as_bytes()) < 8192,
        redwing::storage::key_slot(hi.as_bytes()) < 8192,
        "the two keys must live on different cores"
    );
    let script = "redis.call('incr', KEYS[1]); redis.call('incr', KEYS[2]); return ARGV[1]";
    const PER_CORE: usize = 6;
    const RUNS: usize = 300;
    let clients: Vec<redis::Connection> =
        (0..2 * PER_CORE).map(|i| s.conn_on_core(i % 2)).collect();
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            std::thread::spawn(move || {
                for n in 0..RUNS {
                    let me = format!("client {i} run {n}");
                    let got: String = redis::cmd("EVAL")
                        .arg(script)
                        .arg(2)
                        .arg(lo)
                        .arg(hi)
                        .arg(&me)
                        .query(&mut c)
                        .unwrap();
                    assert_eq!(got, me, "a reply went to the wrong client");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut c = s.conn();
    let want = (2 * PER_CORE * RUNS) as i64;
    assert_eq!(int(&mut c, &["GET", lo]), want);
    assert_eq!(int(&mut c, &["GET", hi]), want);
}

/// EVALSHA_RO, FUNCTION STATS and the cmsgpack, bit and struct libraries:
/// the same bytes as redis-server (the shared comparison).
#[test]
fn evalsha_ro_function_stats_and_lua_libraries_match_redis() {
    let get = "return redis.call('GET', KEYS[1])";
    let set = "return redis.call('SET', KEYS[1], 'x')";
    let sha = |s: &str| {
        let ours = Server::start(&[]);
        RawClient::new(&ours)
            .call(&["SCRIPT", "LOAD", s])
            .lines()
            .nth(1)
            .unwrap()
            .to_string()
    };
    let (get_sha, set_sha) = (sha(get), sha(set));
    compare_with_redis(
        &[],
        &[
            &["SET", "k", "v"],
            &["EVALSHA_RO", &get_sha, "1", "k"],
            &["SCRIPT", "LOAD", get],
            &["SCRIPT", "LOAD", set],
            &["EVALSHA_RO", &get_sha, "1", "k"],
            &["EVALSHA_RO", &set_sha, "1", "k"],
            &["EVALSHA_RO", &get_sha],
            &["FUNCTION", "STATS"],
            &[
                "FUNCTION",
                "LOAD",
                "#!lua name=lib\nredis.register_function('f', function() return 1 end)",
            ],
            &["FUNCTION", "STATS"],
            &["FUNCTION", "STATS", "x"],
            &[
                "EVAL",
                "return cmsgpack.unpack(cmsgpack.pack({1, 2, 'x', {a = 1}}))",
                "0",
            ],
            &["EVAL", "return cmsgpack.pack({1, 2, 'x'}, 3.5, -1)", "0"],
            &["EVAL", "return {cmsgpack.unpack_one(cmsgpack.pack(7, 8))}", "0"],
            &[
                "EVAL",
                "return {bit.band(12, 10), bit.bor(12, 10), bit.bxor(12, 10), bit.lshift(1, 4), bit.tohex(255)}",
                "0",
            ],
            &["EVAL", "return struct.pack('>I2i4', 258, -2)", "0"],
            &[
                "EVAL",
                "return {struct.unpack('>I2i4', struct.pack('>I2i4', 258, -2))}",
                "0",
            ],
            &["EVAL", "return struct.size('>I2i4')", "0"],
            &["EVAL", "return struct.pack('>q')", "0"],
        ],
    );
}
