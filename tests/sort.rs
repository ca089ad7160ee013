//! SORT and SORT_RO side by side with redis-server 7.0 (raw RESP bytes, the
//! shared comparison): numeric and ALPHA order, DESC, LIMIT edges, BY and
//! GET patterns (strings, hash fields, missing keys, `#`, no `*`), STORE
//! (over another type, empty result deletes), errors. With `--threads 2`
//! the pattern keys land on both cores, and the destination is put on the
//! key's core and on the other one on purpose; STORE wakes a blocked
//! client and fails a WATCH, as in Redis.
mod common;

use common::*;

/// Data every comparison starts from: a list, a set, a sorted set, weights
/// and objects (strings and hashes) for the patterns.
const DATA: &[&[&str]] = &[
    &[
        "RPUSH", "l", "3", "1", "2", "10", "1.5", "-4", "0x10", " 7", "", "inf",
    ],
    &[
        "RPUSH", "words", "pear", "apple", "fig", "Banana", "apple", "kiwi",
    ],
    &["SADD", "s", "5", "3", "9", "1", "12"],
    &["SADD", "sw", "b", "a", "d", "c"],
    &["ZADD", "z", "1", "c", "2", "a", "3", "d", "4", "b"],
    &[
        "MSET", "w_3", "30", "w_1", "10", "w_2", "-5", "w_10", "10", "w_1.5", "x",
    ],
    &["MSET", "w_a", "4", "w_b", "1", "w_c", "3", "w_d", "2"],
    &["HSET", "o_a", "name", "alpha", "rank", "2"],
    &["HSET", "o_b", "name", "beta", "rank", "1"],
    &["HSET", "o_c", "name", "gamma"],
    &["MSET", "n_a", "A", "n_b", "B", "n_d", "D"],
    &["RPUSH", "nums", "3", "1", "2", "10"],
    &["SET", "str", "v"],
];

/// DATA, then `cmds`.
fn with_data<'a>(cmds: &[&'a [&'a str]]) -> Vec<&'a [&'a str]> {
    DATA.iter().chain(cmds).copied().collect()
}

#[test]
fn sort_orders_match_redis() {
    let cmds: &[&[&str]] = &[
        &["SORT", "nums"],
        &["SORT", "nums", "DESC"],
        &["SORT", "l"],
        &["SORT", "l", "DESC"],
        &["SORT", "words", "ALPHA"],
        &["SORT", "words", "ALPHA", "DESC"],
        &["SORT", "words"],
        &["SORT", "s"],
        &["SORT", "s", "DESC", "LIMIT", "1", "2"],
        &["SORT", "sw", "ALPHA"],
        &["SORT", "z"],
        &["SORT", "z", "ALPHA"],
        &["SORT", "z", "BY", "nosort"],
        &["SORT", "z", "BY", "nosort", "DESC"],
        &["SORT", "z", "BY", "nosort", "LIMIT", "1", "2"],
        &["SORT", "z", "BY", "nosort", "DESC", "LIMIT", "1", "2"],
        &["SORT", "words", "BY", "nosort"],
        &["SORT", "words", "BY", "nosort", "DESC"],
        &["SORT", "words", "BY", "nosort", "LIMIT", "2", "3"],
        &["SORT", "words", "BY", "nosort", "DESC", "LIMIT", "2", "3"],
        &["SORT", "words", "BY", "nosort", "DESC", "LIMIT", "4", "100"],
        &["SORT", "nums", "LIMIT", "0", "0"],
        &["SORT", "nums", "LIMIT", "-5", "2"],
        &["SORT", "nums", "LIMIT", "2", "-1"],
        &["SORT", "nums", "LIMIT", "3", "10"],
        &["SORT", "nums", "LIMIT", "4", "1"],
        &["SORT", "nums", "LIMIT", "100", "1"],
        &[
            "SORT",
            "nums",
            "LIMIT",
            "9223372036854775807",
            "9223372036854775807",
        ],
        &["SORT", "nums", "LIMIT", "1", "2", "DESC", "ASC"],
        &["SORT", "missing"],
        &["SORT", "missing", "BY", "nosort", "LIMIT", "0", "1"],
        &["SORT_RO", "nums", "DESC"],
    ];
    compare_with_redis(&[], &with_data(cmds));
}

#[test]
fn by_and_get_patterns_match_redis() {
    let cmds: &[&[&str]] = &[
        &["SORT", "nums", "BY", "w_*"],
        &["SORT", "nums", "BY", "w_*", "DESC"],
        &["SORT", "nums", "BY", "w_*", "GET", "#", "GET", "w_*"],
        &["SORT", "nums", "BY", "w_*", "LIMIT", "1", "2", "GET", "w_*"],
        &["SORT", "sw", "BY", "w_*"],
        &["SORT", "sw", "BY", "w_*", "GET", "n_*", "GET", "#"],
        &["SORT", "sw", "BY", "w_*", "GET", "o_*->name"],
        &["SORT", "sw", "BY", "o_*->rank", "GET", "o_*->name"],
        &["SORT", "sw", "BY", "n_*", "ALPHA", "GET", "#"],
        &["SORT", "sw", "BY", "n_*", "ALPHA", "DESC", "GET", "#"],
        &["SORT", "sw", "ALPHA", "GET", "o_*->"],
        &["SORT", "sw", "ALPHA", "GET", "o_*->missing"],
        &["SORT", "sw", "ALPHA", "GET", "nostar"],
        &["SORT", "sw", "ALPHA", "GET", "str"],
        &["SORT", "sw", "ALPHA", "GET", "#", "GET", "#"],
        &["SORT", "z", "BY", "w_*"],
        &[
            "SORT", "z", "BY", "w_*", "DESC", "LIMIT", "0", "2", "GET", "n_*",
        ],
        &["SORT", "words", "BY", "w_*", "ALPHA", "GET", "#"],
        // A BY value that is not a number.
        &["SORT", "l", "BY", "w_*"],
        &["SORT_RO", "sw", "BY", "w_*", "GET", "o_*->name"],
    ];
    compare_with_redis(&[], &with_data(cmds));
}

#[test]
fn store_and_errors_match_redis() {
    let cmds: &[&[&str]] = &[
        &["SORT", "nums", "STORE", "out"],
        &["LRANGE", "out", "0", "-1"],
        &["TYPE", "out"],
        &["SORT", "sw", "BY", "w_*", "GET", "n_*", "STORE", "out2"],
        &["LRANGE", "out2", "0", "-1"],
        // An unsorted set is stored sorted.
        &["SORT", "s", "BY", "nosort", "STORE", "out3"],
        &["LRANGE", "out3", "0", "-1"],
        &["SORT", "sw", "BY", "nosort", "STORE", "out3"],
        &["LRANGE", "out3", "0", "-1"],
        // Over a string with a TTL: replaced, TTL gone.
        &["SET", "dst", "x", "EX", "100"],
        &["SORT", "nums", "DESC", "STORE", "dst"],
        &["TYPE", "dst"],
        &["TTL", "dst"],
        // Nothing to store: the destination goes.
        &["SORT", "missing", "STORE", "dst"],
        &["EXISTS", "dst"],
        &["SORT", "nums", "LIMIT", "0", "0", "STORE", "out"],
        &["EXISTS", "out"],
        // Errors, and nothing stored after one.
        &["SORT", "str"],
        &["SORT", "l", "STORE", "bad"],
        &["EXISTS", "bad"],
        &["SORT", "words"],
        &["SORT", "nums", "LIMIT", "1"],
        &["SORT", "nums", "LIMIT", "x", "1"],
        &["SORT", "nums", "LIMIT", "1", "1.5"],
        &["SORT", "nums", "BY"],
        &["SORT", "nums", "GET"],
        &["SORT", "nums", "STORE"],
        &["SORT", "nums", "FOO"],
        &["SORT", "str", "FOO"],
        &["SORT_RO", "nums", "STORE", "x"],
        &["SORT"],
        &["SORT_RO"],
    ];
    let [resp2, _] = compare_with_redis(&[], &with_data(cmds));
    // Not vacuous: the stored list is there.
    let at = DATA.len() + 1;
    assert_eq!(
        shown(&resp2[at].0),
        "*4\\r\\n$1\\r\\n1\\r\\n$1\\r\\n2\\r\\n$1\\r\\n3\\r\\n$2\\r\\n10\\r\\n"
    );
}

/// An unsorted set's order is its hash table's: compared as sets.
#[test]
fn unsorted_set_holds_the_members() {
    let (ours, redis) = (Server::start(&[]), Server::redis(&[]));
    for s in [&ours, &redis] {
        let mut c = RawClient::new(s);
        c.call(&["SADD", "s", "a", "b", "c", "1"]);
    }
    let members = |s: &Server| {
        let r = RawClient::new(s).call(&["SORT", "s", "BY", "nosort", "ALPHA"]);
        let mut lines: Vec<String> = r.lines().skip(1).map(str::to_string).collect();
        lines.sort();
        lines
    };
    assert_eq!(members(&ours), members(&redis));
}

/// The destination on the key's core and on the other core, with BY/GET
/// keys on both: the same stored list, and the same as Redis's.
#[test]
fn store_across_cores() {
    let (ours, redis) = (Server::start(&[]), Server::redis(&[]));
    let (c0, c1) = keys_on_two_cores("src");
    // A destination on each core, tagged to share a slot with a key of that core.
    for (src, dst) in [(&c0, format!("{{{c0}}}dst")), (&c0, format!("{{{c1}}}dst"))] {
        let cmds: &[&[&str]] = &[
            &["DEL", src, &dst],
            &["RPUSH", src, "b", "a", "c"],
            &[
                "MSET", "w_a", "3", "w_b", "1", "w_c", "2", "g_a", "A", "g_c", "C",
            ],
            &[
                "SORT", src, "BY", "w_*", "GET", "g_*", "GET", "#", "STORE", &dst,
            ],
            &["LRANGE", &dst, "0", "-1"],
            &["SORT", src, "ALPHA", "DESC", "STORE", &dst],
            &["LRANGE", &dst, "0", "-1"],
        ];
        same_as_redis(&ours, &redis, cmds);
    }
}

/// STORE makes a list: a client blocked on the destination gets its first
/// element, wherever it and the destination are; a WATCH on it fails the
/// EXEC.
#[test]
fn store_wakes_blocked_clients_and_fails_watch() {
    let ours = Server::start(&[]);
    let (c0, c1) = keys_on_two_cores("k");
    for dst in [format!("{{{c0}}}d"), format!("{{{c1}}}d")] {
        for placement in PLACEMENTS {
            let mut writer = ours.conn();
            let core = placement.core_for(core_of(&mut writer));
            let mut blocked = ours.raw_on_core(core);
            cmd(&["RPUSH", &c0, "2", "1", "3"])
                .query::<()>(&mut writer)
                .unwrap();
            blocked.send(&["BLPOP", &dst, "5"]);
            wait_blocked(&mut writer, "blpop", 1);
            let n: i64 = cmd(&["SORT", &c0, "STORE", &dst])
                .query(&mut writer)
                .unwrap();
            assert_eq!(n, 3);
            assert_eq!(
                blocked.read(),
                format!("*2\r\n${}\r\n{dst}\r\n$1\r\n1\r\n", dst.len()),
                "{placement:?}"
            );
            let rest: Vec<String> = cmd(&["LRANGE", &dst, "0", "-1"])
                .query(&mut writer)
                .unwrap();
            assert_eq!(rest, ["2", "3"]);
            cmd(&["DEL", &c0, &dst]).query::<()>(&mut writer).unwrap();
        }
    }
    // WATCH.
    let mut a = ours.conn();
    let mut b = ours.conn();
    cmd(&["RPUSH", &c0, "1"]).query::<()>(&mut a).unwrap();
    let dst = format!("{{{c1}}}w");
    cmd(&["WATCH", &dst]).query::<()>(&mut a).unwrap();
    cmd(&["SORT", &c0, "STORE", &dst])
        .query::<()>(&mut b)
        .unwrap();
    let exec: Option<Vec<String>> = redis::pipe()
        .atomic()
        .cmd("GET")
        .arg("x")
        .query(&mut a)
        .unwrap();
    assert_eq!(exec, None, "EXEC after the watched key changed");
}

/// With an AOF: SORT ... STORE across cores is in the file and comes back
/// after a restart; a SORT without STORE changes nothing and is not
/// written (Redis propagates only what changed data).
#[test]
fn store_is_journaled_and_plain_sort_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let args = ["--dir", d, "--appendonly", "yes", "--appendfsync", "always"];
    let (c0, c1) = keys_on_two_cores("j");
    let dst = format!("{{{c1}}}out");
    {
        let s = Server::start(&args);
        let mut c = s.conn();
        cmd(&["RPUSH", &c0, "3", "1", "2"])
            .query::<()>(&mut c)
            .unwrap();
        cmd(&["MSET", "w_1", "9", "w_2", "8", "w_3", "7"])
            .query::<()>(&mut c)
            .unwrap();
        let n: i64 = cmd(&["SORT", &c0, "BY", "w_*", "STORE", &dst])
            .query(&mut c)
            .unwrap();
        assert_eq!(n, 3);
        let _: Vec<String> = cmd(&["SORT", &c0, "BY", "w_*"]).query(&mut c).unwrap();
        let aof: Vec<u8> = std::fs::read_dir(dir.path().join("appendonlydir"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".incr.aof"))
            .flat_map(|p| std::fs::read(p).unwrap())
            .collect();
        let text = String::from_utf8_lossy(&aof).to_lowercase();
        assert_eq!(text.matches("$4\r\nsort\r\n").count(), 1, "{text}");
    }
    let s = Server::start(&args);
    let got: Vec<String> = cmd(&["LRANGE", &dst, "0", "-1"])
        .query(&mut s.conn())
        .unwrap();
    assert_eq!(got, ["3", "2", "1"]);
}
