//! The hash family with real clients, side by side with redis-server 7.0
//! as the oracle: replies and errors, WRONGTYPE, listpack/hashtable
//! conversion (by entries, by length, after CONFIG SET), RESP3 shapes,
//! HRANDFIELD, HSCAN completeness under writes, and a randomized
//! differential run.
mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::{Connection, Value};

/// A reply as a value, errors as a `-<code> <detail>` bulk string, so two
/// servers' replies compare with `==`.
fn val(c: &mut Connection, args: &[&str]) -> Value {
    match cmd(args).query::<Value>(c) {
        Ok(v) => v,
        Err(e) => Value::SimpleString(match e.code() {
            Some(code) => format!("-{code} {}", e.detail().unwrap_or("")),
            None => format!("-client error: {e}"),
        }),
    }
}

/// Runs the lines (`''` an empty argument) on both servers from an empty
/// keyspace and compares the replies' bytes in RESP2 and RESP3 (the shared
/// comparison; hash-table orders compared sorted).
fn same(rw: &Server, rd: &Server, lines: &[String]) {
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let args = split_lines(&refs);
    same_as_redis(rw, rd, &slices(&args));
}

fn lines(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn commands_and_errors_match_redis() {
    let (rw, rd) = (Server::start(&[]), Server::redis(&[]));
    same(
        &rw,
        &rd,
        &lines(&[
            "HSET h f1 v1 f2 v2 f3 v3",
            "HSET h f1 v1 f4 v4",
            "HSET h",
            "HSET h f1",
            "HSET h f1 v1 f2",
            "HMSET h f5 v5 f6 v6",
            "HMSET h f5",
            "HGETALL h",
            "HKEYS h",
            "HVALS h",
            "HLEN h",
            "HGET h f1",
            "HGET h nofield",
            "HGET nokey f1",
            "HMGET h f1 nofield f2",
            "HMGET nokey a b",
            "HMGET h",
            "HSETNX h f1 other",
            "HSETNX h new val",
            "HSETNX nokey2 a b",
            "HGET h new",
            "HEXISTS h f1",
            "HEXISTS h zz",
            "HEXISTS nokey f1",
            "HSTRLEN h f1",
            "HSTRLEN h zz",
            "HSTRLEN nokey zz",
            "HDEL h f1 f1 zz",
            "HDEL h",
            "HDEL nokey a",
            "HGETALL nokey",
            "HKEYS nokey",
            "HVALS nokey",
            "HLEN nokey",
            // HINCRBY
            "HINCRBY h n 5",
            "HINCRBY h n -10",
            "HINCRBY h n x",
            "HINCRBY h n 1.5",
            "HINCRBY h n 9223372036854775807",
            "HINCRBY h m 9223372036854775807",
            "HINCRBY h m 1",
            "HINCRBY h k -9223372036854775808",
            "HINCRBY h k -1",
            "HINCRBY h f2 1",
            "HSET h sp 5x lead 05 plus +5 neg0 -0 empty ''",
            "HINCRBY h lead 1",
            "HINCRBY h plus 1",
            "HINCRBY h neg0 1",
            "HINCRBY h empty 1",
            "HINCRBY newkey a 3",
            // HINCRBYFLOAT
            "HINCRBYFLOAT h fl 10.5",
            "HINCRBYFLOAT h fl 0.1",
            "HINCRBYFLOAT h fl -5e3",
            "HINCRBYFLOAT h fl 3.0e2",
            "HINCRBYFLOAT h n 1",
            "HINCRBYFLOAT h fl abc",
            "HINCRBYFLOAT h fl inf",
            "HINCRBYFLOAT h fl -inf",
            "HINCRBYFLOAT h fl nan",
            "HINCRBYFLOAT h f2 1",
            "HINCRBYFLOAT h lead 1",
            "HSET h big 1e308",
            "HINCRBYFLOAT h big 1e308",
            "HSET h infv inf",
            "HINCRBYFLOAT h infv 1",
            "HINCRBYFLOAT h neg0 0",
            "HINCRBYFLOAT h fresh 1.23456789012345678",
            "HINCRBYFLOAT h tiny 0.0000000000000000001",
            "HINCRBYFLOAT h hex 0x10",
            "HINCRBYFLOAT h sp 1",
            "HGETALL h",
            "OBJECT ENCODING h",
            // HRANDFIELD argument errors and empty cases.
            "HRANDFIELD nokey",
            "HRANDFIELD nokey 5",
            "HRANDFIELD nokey -5 WITHVALUES",
            "HRANDFIELD h x",
            "HRANDFIELD h 1 x",
            "HRANDFIELD h 1 WITHVALUES x",
            "HRANDFIELD h 0",
            "HRANDFIELD h 0 withvalues",
            "HRANDFIELD h -9223372036854775807 WITHVALUES",
            "HRANDFIELD h 4611686018427387904 WITHVALUES",
            "HRANDFIELD nokey 9223372036854775808",
            // HSCAN argument errors.
            "HSCAN h x",
            "HSCAN h 1a",
            "HSCAN h 99999999999999999999",
            "HSCAN h 0 COUNT 0",
            "HSCAN h 0 COUNT x",
            "HSCAN h 0 COUNT",
            "HSCAN h 0 MATCH",
            "HSCAN h 0 TYPE string",
            "HSCAN h 0 NOVALUES",
            "HSCAN nokey 0",
            "HSCAN nokey 0 BOGUS",
            // A listpack is answered whole; a hashtable's steps differ
            // from Redis's (see hscan_complete_for_both_encodings).
            "HSET lp f1 1 g 2 f2 3",
            "HSCAN lp 0 MATCH f*",
            "HSCAN lp 0 MATCH F* COUNT 1",
            "HSCAN lp 0 MATCH [fg]* COUNT 1",
            "HSCAN lp -1 match g",
            "HSCAN lp 18446744073709551615",
            "HSCAN lp 0 COUNT 1 COUNT 2 MATCH x MATCH g",
            // Emptied hashes disappear.
            "HSET gone a 1 b 2",
            "HDEL gone a b",
            "EXISTS gone",
            "TYPE h",
        ]),
    );
    // COMMAND INFO: name, arity, flags, key positions and ACL categories
    // (redwing has no key specs or tips yet).
    let names = [
        "hset",
        "hsetnx",
        "hget",
        "hmget",
        "hmset",
        "hdel",
        "hlen",
        "hstrlen",
        "hexists",
        "hkeys",
        "hvals",
        "hgetall",
        "hincrby",
        "hincrbyfloat",
        "hrandfield",
        "hscan",
    ];
    command_rows_match(&rw, &rd, &names, 7);
}

#[test]
fn wrong_type_everywhere() {
    let (rw, rd) = (Server::start(&[]), Server::redis(&[]));
    let script = [
        "SET s str",
        "HSET s f v",
        "HMSET s f v",
        "HSETNX s f v",
        "HGET s f",
        "HMGET s f",
        "HDEL s f",
        "HLEN s",
        "HSTRLEN s f",
        "HEXISTS s f",
        "HKEYS s",
        "HVALS s",
        "HGETALL s",
        "HINCRBY s f 1",
        "HINCRBYFLOAT s f 1",
        "HRANDFIELD s",
        "HRANDFIELD s 0",
        "HRANDFIELD s -3 WITHVALUES",
        "HSCAN s 0",
        "HSCAN s x",
        "HINCRBY s f x",
        "HINCRBYFLOAT s f x",
        "HSET h f v",
        "GET h",
        "INCR h",
    ];
    let [resp2, _] = same_as_redis(&rw, &rd, &slices(&split_lines(&script)));
    // Not vacuous: the string key is there.
    assert_eq!(
        resp2[4].0,
        b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
}

#[test]
fn encoding_conversions_match_redis() {
    let (rw, rd) = (Server::start(&[]), Server::redis(&[]));
    let v64 = "v".repeat(64);
    let v65 = "v".repeat(65);
    let mut script = Vec::new();
    // By entries: 512 (Redis 7.0's default limit) stay a listpack, the
    // 513th converts.
    for i in 0..512 {
        script.push(format!("HSET n f{i} {i}"));
    }
    script.push("OBJECT ENCODING n".into());
    script.push("HSET n f0 again".into());
    script.push("OBJECT ENCODING n".into());
    script.push("HSET n f512 x".into());
    script.push("OBJECT ENCODING n".into());
    script.push("HDEL n f512 f511 f510".into());
    script.push("OBJECT ENCODING n".into());
    // By length, of a value and of a field, for each writing command.
    for (cmdline, key) in [
        (format!("HSET a f {v64}"), "a"),
        (format!("HSET b f {v65}"), "b"),
        (format!("HSET c {v65} x"), "c"),
        (format!("HMSET d f {v65}"), "d"),
        (format!("HSETNX e f {v65}"), "e"),
        (format!("HINCRBY g {v65} 1"), "g"),
        (format!("HINCRBYFLOAT i {v65} 1.5"), "i"),
        ("HINCRBYFLOAT j f 1e70".to_string(), "j"),
        ("HINCRBYFLOAT k f 1e60".to_string(), "k"),
    ] {
        script.push(cmdline);
        script.push(format!("OBJECT ENCODING {key}"));
    }
    // HSETNX on an existing field does not convert; HSET of the same
    // value does.
    script.push("HSET x f 1".into());
    script.push(format!("HSETNX x f {v65}"));
    script.push("OBJECT ENCODING x".into());
    script.push(format!("HSET x f 1 g {v65}"));
    script.push("OBJECT ENCODING x".into());
    script.push("HDEL x g".into());
    script.push("OBJECT ENCODING x".into());
    // After CONFIG SET, the new limits apply to the next write.
    script.push("HSET y a 1 b 2 c 3".into());
    script.push("CONFIG SET hash-max-listpack-entries 2".into());
    script.push("OBJECT ENCODING y".into());
    script.push("HSET y a 9".into());
    script.push("OBJECT ENCODING y".into());
    script.push("HSET z a 1 b 2".into());
    script.push("OBJECT ENCODING z".into());
    script.push("CONFIG SET hash-max-listpack-entries 512".into());
    script.push("CONFIG SET hash-max-listpack-value 4".into());
    script.push("HSET w abcd 1234".into());
    script.push("OBJECT ENCODING w".into());
    script.push("HSET w2 abcde 1".into());
    script.push("OBJECT ENCODING w2".into());
    script.push("CONFIG SET hash-max-listpack-value 0".into());
    script.push("HSET w3 '' ''".into());
    script.push("OBJECT ENCODING w3".into());
    script.push("HSET w3 a ''".into());
    script.push("OBJECT ENCODING w3".into());
    script.push("CONFIG SET hash-max-listpack-entries 0".into());
    script.push("CONFIG SET hash-max-listpack-value 64".into());
    script.push("HSET w4 a b".into());
    script.push("OBJECT ENCODING w4".into());
    script.push("CONFIG SET hash-max-listpack-entries 512".into());
    script.push("CONFIG GET hash-max-listpack-entries".into());
    script.push("CONFIG GET hash-max-listpack-value".into());
    for k in ["n", "a", "b", "c", "d", "e", "g", "i", "j", "k", "x", "y"] {
        script.push(format!("HGETALL {k}"));
    }
    same(&rw, &rd, &script);
}

#[test]
fn listpack_order_is_insertion_order_as_redis() {
    let (rw, rd) = (Server::start(&[]), Server::redis(&[]));
    let (mut a, mut b) = (RawClient::new(&rw), RawClient::new(&rd));
    for c in [&mut a, &mut b] {
        assert_eq!(
            c.call(&["HSET", "h", "z", "1", "a", "2", "m", "3"]),
            ":3\r\n"
        );
        assert_eq!(c.call(&["HSET", "h", "a", "9", "b", "4"]), ":1\r\n");
        assert_eq!(c.call(&["HDEL", "h", "z"]), ":1\r\n");
    }
    // Raw bytes, not the shared comparison: that one sorts these replies
    // (a hashtable's order is Redis's own), and the order is the point here.
    for q in ["HGETALL", "HKEYS", "HVALS", "HSCAN"] {
        let args = if q == "HSCAN" {
            vec![q, "h", "0"]
        } else {
            vec![q, "h"]
        };
        let (x, y) = (a.call_bytes(&args), b.call_bytes(&args));
        assert_eq!(shown(&x), shown(&y), "{q}");
    }
}

/// RESP3 replies, byte for byte: HGETALL is a map, HRANDFIELD WITHVALUES
/// an array of pairs, HSCAN and HKEYS plain arrays, a missing field null.
#[test]
fn resp3_shapes_match_redis() {
    let (rw, rd) = (Server::start(&[]), Server::redis(&[]));
    let [_, resp3] = same_as_redis(
        &rw,
        &rd,
        &slices(&split_lines(&[
            "HSET h f v",
            "HGETALL h",
            "HGETALL nokey",
            "HRANDFIELD h 1 WITHVALUES",
            "HRANDFIELD h -2 WITHVALUES",
            "HRANDFIELD h 5 WITHVALUES",
            "HRANDFIELD h 0 WITHVALUES",
            "HRANDFIELD h -2",
            "HRANDFIELD nokey",
            "HRANDFIELD nokey 3",
            "HSCAN h 0",
            "HKEYS h",
            "HGET h nope",
            "HMGET h f nope",
        ])),
    );
    assert_eq!(resp3[1].0, b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n");
    assert!(resp3[4]
        .0
        .starts_with(b"*2\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n*2\r\n"));
}

#[test]
fn hrandfield_counts_and_values() {
    let rw = Server::start(&[]);
    let mut c = rw.conn();
    for (key, n) in [("small", 10usize), ("big", 1000)] {
        let mut args = vec!["HSET".to_string(), key.to_string()];
        for i in 0..n {
            args.push(format!("f{i}"));
            args.push(format!("v{i}"));
        }
        let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let added: i64 = cmd(&refs).query(&mut c).unwrap();
        assert_eq!(added, n as i64);
        let one: String = cmd(&["HRANDFIELD", key]).query(&mut c).unwrap();
        assert!(one.starts_with('f'));
        for count in [
            1i64,
            3,
            9,
            n as i64 - 1,
            n as i64,
            n as i64 + 5,
            -1,
            -5,
            -3000,
        ] {
            let fields: Vec<String> = cmd(&["HRANDFIELD", key, &count.to_string()])
                .query(&mut c)
                .unwrap();
            let want = if count < 0 {
                count.unsigned_abs() as usize
            } else {
                (count as usize).min(n)
            };
            assert_eq!(fields.len(), want, "{key} {count}");
            let distinct: HashSet<&String> = fields.iter().collect();
            if count > 0 {
                assert_eq!(distinct.len(), want, "{key} {count}: repeats");
            }
            for f in &fields {
                let i: usize = f[1..].parse().unwrap();
                assert!(i < n);
            }
            let flat: Vec<String> = cmd(&["HRANDFIELD", key, &count.to_string(), "WITHVALUES"])
                .query(&mut c)
                .unwrap();
            assert_eq!(flat.len(), 2 * want);
            for p in flat.chunks(2) {
                assert_eq!(p[1], format!("v{}", &p[0][1..]));
            }
        }
        // Negative counts draw every field eventually (uniform enough).
        let many: Vec<String> = cmd(&["HRANDFIELD", key, "-20000"]).query(&mut c).unwrap();
        let seen: HashSet<&String> = many.iter().collect();
        assert_eq!(seen.len(), n, "{key}: some field never drawn");
    }
    let enc: String = cmd(&["OBJECT", "ENCODING", "big"]).query(&mut c).unwrap();
    assert_eq!(enc, "hashtable");
}

/// Every field of a full HSCAN; (fields, calls).
fn hscan_all(c: &mut Connection, key: &str, extra: &[&str]) -> (HashMap<String, String>, usize) {
    let mut cursor = "0".to_string();
    let mut out = HashMap::new();
    let mut calls = 0;
    loop {
        let (next, items): (String, Vec<String>) =
            cmd(&["HSCAN", key, &cursor]).arg(extra).query(c).unwrap();
        for p in items.chunks(2) {
            out.insert(p[0].clone(), p[1].clone());
        }
        calls += 1;
        if next == "0" {
            return (out, calls);
        }
        cursor = next;
        assert!(calls < 100_000, "HSCAN does not end");
    }
}

#[test]
fn hscan_complete_for_both_encodings() {
    let rw = Server::start(&[]);
    let mut c = rw.conn();
    // A listpack comes back whole, cursor 0, whatever the COUNT.
    let _: () = cmd(&["HSET", "lp", "a", "1", "b", "2", "ab", "3"])
        .query(&mut c)
        .unwrap();
    let (next, items): (String, Vec<String>) = cmd(&["HSCAN", "lp", "0", "COUNT", "1"])
        .query(&mut c)
        .unwrap();
    assert_eq!((next.as_str(), items.len()), ("0", 6));
    let (_, items): (String, Vec<String>) = cmd(&["HSCAN", "lp", "0", "MATCH", "a*"])
        .query(&mut c)
        .unwrap();
    assert_eq!(items, vec!["a", "1", "ab", "3"]);

    // A big hashtable, scanned in many steps.
    let n = 20_000;
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut args = vec!["HSET".to_string(), "ht".to_string()];
        for i in chunk {
            args.push(format!("f{i}"));
            args.push(format!("{i}"));
        }
        let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let _: () = cmd(&refs).query(&mut c).unwrap();
    }
    let (all, calls) = hscan_all(&mut c, "ht", &["COUNT", "10"]);
    assert_eq!(all.len(), n);
    assert!(calls > 1, "a big hashtable is scanned in steps");
    assert!(all.iter().all(|(f, v)| f[1..] == *v));
    let (some, _) = hscan_all(&mut c, "ht", &["MATCH", "f1*", "COUNT", "100"]);
    assert_eq!(
        some.len(),
        (0..n).filter(|i| i.to_string().starts_with('1')).count()
    );

    // Writes between steps (the table grows, then shrinks): every field
    // present for the whole scan is returned.
    let mut cursor = "0".to_string();
    let mut seen = HashSet::new();
    let mut step = 0;
    loop {
        let (next, items): (String, Vec<String>) = cmd(&["HSCAN", "ht", &cursor, "COUNT", "50"])
            .query(&mut c)
            .unwrap();
        seen.extend(items.chunks(2).map(|p| p[0].clone()));
        // Fields f0..f999 stay; the rest are deleted, new ones added.
        let mut del = vec!["HDEL".to_string(), "ht".to_string()];
        let mut add = vec!["HSET".to_string(), "ht".to_string()];
        for j in 0..400 {
            let i = 1000 + step * 400 + j;
            if i < n {
                del.push(format!("f{i}"));
            }
            add.push(format!("new{step}_{j}"));
            add.push("x".into());
        }
        if del.len() > 2 {
            let refs: Vec<&str> = del.iter().map(|s| s.as_str()).collect();
            let _: () = cmd(&refs).query(&mut c).unwrap();
        }
        if step % 3 == 0 {
            let refs: Vec<&str> = add.iter().map(|s| s.as_str()).collect();
            let _: () = cmd(&refs).query(&mut c).unwrap();
        }
        step += 1;
        if next == "0" {
            break;
        }
        cursor = next;
        assert!(step < 100_000);
    }
    for i in 0..1000 {
        assert!(seen.contains(&format!("f{i}")), "f{i} missed");
    }
}

#[test]
fn hashes_on_both_cores_and_keyspace_commands() {
    let rw = Server::start(&[]);
    let mut c = rw.conn();
    let (k1, k2) = keys_on_two_cores("hk:");
    for k in [&k1, &k2] {
        let n: i64 = cmd(&["HSET", k, "a", "1", "b", "2"]).query(&mut c).unwrap();
        assert_eq!(n, 2);
        let t: String = cmd(&["TYPE", k]).query(&mut c).unwrap();
        assert_eq!(t, "hash");
        let v: i64 = cmd(&["HINCRBY", k, "a", "41"]).query(&mut c).unwrap();
        assert_eq!(v, 42);
    }
    let (_, k3) = keys_on_two_cores("hk2:");
    let _: () = cmd(&["RENAME", &k1, &k3]).query(&mut c).unwrap();
    let v: String = cmd(&["HGET", &k3, "a"]).query(&mut c).unwrap();
    assert_eq!(v, "42");
    let _: () = cmd(&["COPY", &k3, &k1]).query(&mut c).unwrap();
    let all: HashMap<String, String> = cmd(&["HGETALL", &k1]).query(&mut c).unwrap();
    assert_eq!(all.len(), 2);
    let mem: i64 = cmd(&["MEMORY", "USAGE", &k1])
        .query(&mut c)
        .unwrap_or_else(|e| panic!("MEMORY USAGE {k1}: {e}"));
    assert!(mem > 0, "MEMORY USAGE {k1} = {mem}");
    let _: () = cmd(&["PEXPIRE", &k2, "50"]).query(&mut c).unwrap();
    std::thread::sleep(Duration::from_millis(120));
    let n: i64 = cmd(&["HLEN", &k2]).query(&mut c).unwrap();
    assert_eq!(n, 0);
}

/// The same random hash command sequence against both servers, replies'
/// bytes compared (the shared comparison: hash-ordered replies sorted;
/// HRANDFIELD by type and size; HSCAN iterated to the end and sorted). Small limits make conversions common.
#[test]
fn randomized_differential_against_redis() {
    let conf = [
        "--hash-max-listpack-entries",
        "6",
        "--hash-max-listpack-value",
        "12",
    ];
    let (rw, rd) = (Server::start(&conf), Server::redis(&conf));
    let (mut a, mut b) = (rw.conn(), rd.conn());
    let (mut ours, mut theirs) = (RawClient::new(&rw), RawClient::new(&rd));
    let mut rng = StdRng::seed_from_u64(0x4a54_4801);
    let keys = ["h1", "h2", "h3", "str"];
    let _: () = cmd(&["SET", "str", "x"]).query(&mut a).unwrap();
    let _: () = cmd(&["SET", "str", "x"]).query(&mut b).unwrap();
    let field = |rng: &mut StdRng| -> String {
        match rng.gen_range(0..10) {
            0 => "f".repeat(rng.gen_range(10..16)),
            _ => format!("f{}", rng.gen_range(0..10)),
        }
    };
    let value = |rng: &mut StdRng| -> String {
        match rng.gen_range(0..8) {
            0 => "v".repeat(rng.gen_range(8..20)),
            1 => format!("{}", rng.gen_range(-5..5)),
            2 => format!("{:.3}", rng.gen_range(-100.0..100.0)),
            3 => "9223372036854775800".into(),
            4 => String::new(),
            _ => format!("v{}", rng.gen_range(0..100)),
        }
    };
    for step in 0..3000 {
        let key = keys[rng.gen_range(0..keys.len())].to_string();
        let f = field(&mut rng);
        let mut args: Vec<String> = match rng.gen_range(0..17) {
            0 | 1 => {
                let mut v = vec!["HSET".into(), key.clone()];
                for _ in 0..rng.gen_range(1..4) {
                    v.push(field(&mut rng));
                    v.push(value(&mut rng));
                }
                v
            }
            2 => vec!["HSETNX".into(), key.clone(), f, value(&mut rng)],
            3 => vec!["HGET".into(), key.clone(), f],
            4 => vec!["HMGET".into(), key.clone(), f, field(&mut rng)],
            5 => vec!["HDEL".into(), key.clone(), f, field(&mut rng)],
            6 => vec!["HLEN".into(), key.clone()],
            7 => vec!["HSTRLEN".into(), key.clone(), f],
            8 => vec!["HEXISTS".into(), key.clone(), f],
            9 => vec!["HGETALL".into(), key.clone()],
            10 => vec![["HKEYS", "HVALS"][rng.gen_range(0..2)].into(), key.clone()],
            11 => vec![
                "HINCRBY".into(),
                key.clone(),
                f,
                format!("{}", rng.gen_range(-1000..1000)),
            ],
            12 => vec![
                "HINCRBYFLOAT".into(),
                key.clone(),
                f,
                format!("{:.4}", rng.gen_range(-100.0..100.0)),
            ],
            13 => vec!["OBJECT".into(), "ENCODING".into(), key.clone()],
            14 => vec![
                "HRANDFIELD".into(),
                key.clone(),
                format!("{}", rng.gen_range(-8..8)),
            ],
            15 => vec!["HSCAN".into(), key.clone(), "0".into()],
            _ => vec!["DEL".into(), key.clone()],
        };
        let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let (x, y) = (ours.call_bytes(&refs), theirs.call_bytes(&refs));
        let ctx = format!("step {step}: {args:?}");
        match args[0].as_str() {
            "HRANDFIELD" => {
                // Random fields: the same type and size (the first line).
                let head = |b: &[u8]| shown(&b[..b.iter().position(|&c| c == b'\n').unwrap()]);
                assert_eq!(head(&x), head(&y), "{ctx}");
            }
            "HSCAN" => {
                let all = |c: &mut Connection| match val(c, &refs) {
                    Value::Array(_) => {
                        let mut v: Vec<_> = hscan_all(c, &key, &[]).0.into_iter().collect();
                        v.sort();
                        format!("{v:?}")
                    }
                    other => format!("{other:?}"),
                };
                assert_eq!(all(&mut a), all(&mut b), "{ctx}");
            }
            _ => assert_same_reply(2, &refs, &x, &y),
        }
        args.clear();
    }
    for k in keys {
        let args = ["HGETALL", k];
        assert_same_reply(2, &args, &ours.call_bytes(&args), &theirs.call_bytes(&args));
    }
}
