//! A dataset of every type and encoding, and how a key looks from outside
//! (shared by the RDB codec and persistence tests).
#![allow(dead_code)]

use redis::Connection;

use super::cmd;

/// What one key looks like from outside.
#[derive(Debug, PartialEq)]
pub struct View {
    pub ty: String,
    pub items: Vec<Vec<u8>>,
    /// PEXPIRETIME: -1 without a TTL.
    pub expire: i64,
    pub encoding: String,
}

pub fn sorted_pairs(flat: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = flat
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    pairs.sort();
    pairs.into_iter().flat_map(|(a, b)| [a, b]).collect()
}

pub fn redis_view(c: &mut Connection, key: &[u8]) -> View {
    let ty: String = redis::cmd("TYPE").arg(key).query(c).unwrap();
    let q = |c: &mut Connection, name: &str, extra: &[&str]| -> Vec<Vec<u8>> {
        redis::cmd(name).arg(key).arg(extra).query(c).unwrap()
    };
    let items = match ty.as_str() {
        "string" => vec![redis::cmd("GET").arg(key).query(c).unwrap()],
        "list" => q(c, "LRANGE", &["0", "-1"]),
        "set" => {
            let mut m = q(c, "SMEMBERS", &[]);
            m.sort();
            m
        }
        "hash" => sorted_pairs(q(c, "HGETALL", &[])),
        "zset" => q(c, "ZRANGE", &["0", "-1", "WITHSCORES"]),
        // Gone since the caller saw it (expired, or a replica applied a
        // DEL): a view with no items, which callers that list keys skip.
        "none" => Vec::new(),
        other => panic!("unexpected type {other}"),
    };
    View {
        ty,
        items,
        expire: redis::cmd("PEXPIRETIME").arg(key).query(c).unwrap(),
        encoding: redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg(key)
            .query(c)
            .unwrap(),
    }
}

pub fn run(c: &mut Connection, args: &[&str]) {
    cmd(args).query::<redis::Value>(c).unwrap();
}

/// A list with an entry of each listpack encoding width.
pub const SMALL_LIST: &[&str] = &["a", "1", "-5", "300", "70000", "5000000000", "x"];

pub const LIBRARY: &str = "#!lua name=mylib\nredis.register_function('f', function() return 1 end)";

/// Data of every type and encoding Redis 7.0 has, in dbs 0, 1 and 9
/// (and a function library with `functions`).
pub fn fill_redis(c: &mut Connection, functions: bool) {
    let long = |p: &str, n: usize| p.repeat(n);
    run(c, &["SET", "int", "12345"]);
    run(c, &["SET", "neg", "-7"]);
    run(c, &["SET", "bigint", "12345678901234"]);
    run(c, &["SET", "embstr", "hello world"]);
    let noise: String = (0..200u32)
        .map(|i| char::from(b'!' + (i.wrapping_mul(2_654_435_761) >> 26) as u8 % 90))
        .collect();
    run(c, &["SET", "raw", &noise]);
    run(c, &["SET", "lzf", &long("abcabcabd", 300)]);
    run(c, &["SET", "empty", ""]);
    run(c, &["SET", "ttl", "v", "PX", "500000"]);
    let mut push = vec!["RPUSH", "list:small"];
    push.extend_from_slice(SMALL_LIST);
    run(c, &push);
    for i in 0..3000 {
        let v = if i % 7 == 0 {
            long("e", 100 + i % 300)
        } else {
            i.to_string()
        };
        run(c, &["RPUSH", "list:big", &v]);
    }
    run(
        c,
        &["RPUSH", "list:huge-elem", "a", &long("z", 10_000), "b"],
    );
    run(
        c,
        &["SADD", "set:ints", "1", "2", "3", "-100000", "5000000000"],
    );
    run(c, &["SADD", "set:strs", "a", "b", "c"]);
    for i in 0..600 {
        run(c, &["SADD", "set:bigints", &i.to_string()]);
        run(c, &["SADD", "set:bigstrs", &format!("m{i}")]);
    }
    run(
        c,
        &[
            "ZADD", "z:small", "1", "a", "2.5", "b", "-3", "c", "inf", "d", "-inf", "e",
        ],
    );
    run(c, &["ZADD", "z:long", "1", "a", "2", &long("m", 100)]);
    for i in 0..300 {
        run(
            c,
            &[
                "ZADD",
                "z:big",
                &format!("{}", i as f64 / 3.0),
                &format!("m{i}"),
            ],
        );
    }
    run(c, &["HSET", "h:small", "f1", "v1", "f2", "2", "n", "-1"]);
    run(c, &["HSET", "h:long", "f", &long("v", 100)]);
    for i in 0..300 {
        run(c, &["HSET", "h:big", &format!("f{i}"), &i.to_string()]);
    }
    run(c, &["PEXPIRE", "h:small", "900000"]);
    run(c, &["SADD", "set:wide-ints", "5000000000", "-5000000000"]);
    for i in 0..300 {
        run(
            c,
            &[
                "SADD",
                "set:wide-ints",
                &(i * 100_000_000_000i64).to_string(),
            ],
        );
    }
    if functions {
        run(c, &["FUNCTION", "LOAD", LIBRARY]);
    }
    run(c, &["SELECT", "1"]);
    run(c, &["SET", "one", "1"]);
    run(c, &["RPUSH", "l", "x"]);
    run(c, &["SET", "exp", "e", "EX", "1000"]);
    run(c, &["SELECT", "9"]);
    run(c, &["SADD", "s", "x", "1"]);
    run(c, &["SELECT", "0"]);
}
