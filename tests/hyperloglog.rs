//! HyperLogLog side by side with redis-server 7.0: after the same PFADDs
//! the stored strings are byte-identical (sparse, dense, the sparse limit,
//! PFMERGE, the cached count PFCOUNT writes), PFCOUNT agrees, PFMERGE and
//! multi-key PFCOUNT work over keys on different cores, and the errors and
//! PFDEBUG replies are Redis's.
mod common;
use common::*;

/// Runs the same commands on both servers, comparing every reply (raw RESP).
fn both(ours: &mut RawClient, theirs: &mut RawClient, args: &[&str]) -> Vec<u8> {
    let (a, b) = (ours.call_bytes(args), theirs.call_bytes(args));
    assert!(
        a == b,
        "{args:?}\n redwing: {}\n   redis: {}",
        shown(&a),
        shown(&b)
    );
    a
}

/// PFADDs `n` elements to `key` in batches of 100, as one pipeline each.
fn add(ours: &mut RawClient, theirs: &mut RawClient, key: &str, from: usize, n: usize) {
    for start in (from..from + n).step_by(100) {
        let elems: Vec<String> = (start..(start + 100).min(from + n))
            .map(|i| format!("elem:{i}"))
            .collect();
        let mut args = vec!["PFADD", key];
        args.extend(elems.iter().map(String::as_str));
        both(ours, theirs, &args);
    }
}

#[test]
fn strings_and_counts_equal_redis_sparse_and_dense() {
    let redwing = Server::start(&[]);
    let redis = Server::redis(&[]);
    let (a, b) = keys_on_two_cores("hll:");
    let mut ours = redwing.raw_on_core(0);
    let mut theirs = RawClient::new(&redis);
    for (key, sizes) in [
        (&a, [1usize, 10, 300, 2000, 20000]),
        (&b, [3, 50, 700, 5000, 0]),
    ] {
        let mut total = 0;
        for n in sizes {
            add(&mut ours, &mut theirs, key, total, n);
            total += n;
            both(&mut ours, &mut theirs, &["GET", key]);
            both(&mut ours, &mut theirs, &["PFDEBUG", "ENCODING", key]);
            both(&mut ours, &mut theirs, &["PFCOUNT", key]);
            // PFCOUNT wrote the cached count into the string.
            both(&mut ours, &mut theirs, &["GET", key]);
            both(&mut ours, &mut theirs, &["PFADD", key, "elem:0"]);
        }
    }
    // Multi-key count and merge over both cores, both directions.
    both(&mut ours, &mut theirs, &["PFCOUNT", &a, &b]);
    both(&mut ours, &mut theirs, &["PFCOUNT", &a, &b, "nokey"]);
    both(&mut ours, &mut theirs, &["PFMERGE", "m1", &a, &b]);
    both(&mut ours, &mut theirs, &["GET", "m1"]);
    both(&mut ours, &mut theirs, &["PFCOUNT", "m1"]);
    both(&mut ours, &mut theirs, &["PFMERGE", &b, &a]);
    both(&mut ours, &mut theirs, &["GET", &b]);
    both(&mut ours, &mut theirs, &["PFMERGE", "empty", "nokey"]);
    both(&mut ours, &mut theirs, &["GET", "empty"]);
}

#[test]
fn sparse_limit_and_merges_of_sparse_values() {
    // A small hll-sparse-max-bytes turns HLLs dense sooner.
    let redwing = Server::start(&["--hll-sparse-max-bytes", "200"]);
    let redis = Server::redis(&["--hll-sparse-max-bytes", "200"]);
    let (a, b) = keys_on_two_cores("lim:");
    for core in [0, 1] {
        let mut ours = redwing.raw_on_core(core);
        let mut theirs = RawClient::new(&redis);
        both(&mut ours, &mut theirs, &["FLUSHALL"]);
        for (key, n) in [(&a, 40), (&b, 120)] {
            add(&mut ours, &mut theirs, key, 0, n);
            both(&mut ours, &mut theirs, &["GET", key]);
            both(&mut ours, &mut theirs, &["PFDEBUG", "ENCODING", key]);
            both(&mut ours, &mut theirs, &["PFDEBUG", "DECODE", key]);
        }
        both(&mut ours, &mut theirs, &["PFMERGE", &a, &b]);
        both(&mut ours, &mut theirs, &["GET", &a]);
        both(
            &mut ours,
            &mut theirs,
            &["CONFIG", "SET", "hll-sparse-max-bytes", "3000"],
        );
        add(&mut ours, &mut theirs, "s2", 0, 30);
        add(&mut ours, &mut theirs, "s3", 1000, 30);
        both(&mut ours, &mut theirs, &["PFMERGE", "s2", "s3"]);
        both(&mut ours, &mut theirs, &["GET", "s2"]);
        both(&mut ours, &mut theirs, &["PFDEBUG", "TODENSE", "s2"]);
        both(&mut ours, &mut theirs, &["PFDEBUG", "TODENSE", "s2"]);
        both(&mut ours, &mut theirs, &["GET", "s2"]);
        both(&mut ours, &mut theirs, &["PFDEBUG", "GETREG", "s3"]);
        both(&mut ours, &mut theirs, &["GET", "s3"]);
        both(
            &mut ours,
            &mut theirs,
            &["CONFIG", "SET", "hll-sparse-max-bytes", "200"],
        );
    }
}

#[test]
fn errors_and_edges_as_redis() {
    let script = split_lines(&[
        "PFADD h",
        "PFADD h",
        "GET h",
        "PFCOUNT h",
        "PFADD h a b c",
        "PFADD h a",
        "SET s notanhll",
        "PFADD s a",
        "PFCOUNT s",
        "PFCOUNT h s",
        "PFMERGE h s",
        "PFMERGE s h",
        "LPUSH l a",
        "PFADD l a",
        "PFCOUNT l",
        "PFCOUNT h l",
        "PFMERGE l h",
        "PFCOUNT nokey",
        "PFCOUNT nokey other",
        "PFDEBUG ENCODING nokey",
        "PFDEBUG ENCODING s",
        "PFDEBUG FOO h",
        "PFDEBUG ENCODING h extra",
        "PFDEBUG DECODE h",
        "PFDEBUG TODENSE h",
        "PFDEBUG DECODE h",
        "PFDEBUG ENCODING h",
        "PFADD h d e",
        "PFCOUNT h",
        "SET fake HYLL",
        "PFADD fake x",
        "SETRANGE h2 0 HYLL\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}",
        "PFCOUNT h2",
        "PFADD h2 x",
        "SET d HYLL\u{0}",
        "PFCOUNT d",
        "PFSELFTEST",
        "PFSELFTEST x",
        "PFADD",
        "PFCOUNT",
    ]);
    compare_with_redis(&[], &slices(&script));
}

#[test]
fn pfadd_events_as_redis() {
    let redwing = Server::start(&["--notify-keyspace-events", "KEA"]);
    let redis = Server::redis(&["--notify-keyspace-events", "KEA"]);
    let (a, b) = keys_on_two_cores("pfev:");
    let run = |s: &Server, sub_core: Option<usize>| {
        let mut sub = match sub_core {
            Some(c) => s.raw_on_core(c),
            None => RawClient::new(s),
        };
        sub.call(&["PSUBSCRIBE", "__keyevent@0__:*"]);
        let mut c = RawClient::new(s);
        for args in [
            vec!["PFADD", a.as_str(), "x"],
            vec!["PFADD", a.as_str(), "x"],
            vec!["PFMERGE", b.as_str(), a.as_str()],
            vec!["SET", "done", "1"],
        ] {
            c.call(&args);
        }
        let mut got = Vec::new();
        loop {
            let m = sub.read();
            let done = m.contains("done");
            got.push(m);
            if done {
                got.sort();
                return got;
            }
        }
    };
    let theirs = run(&redis, None);
    for core in [0, 1] {
        assert_eq!(
            run(&redwing, Some(core)),
            theirs,
            "subscriber on core {core}"
        );
        RawClient::new(&redwing).call(&["FLUSHALL"]);
    }
}

/// Random elements of every length 0..40 (every MurmurHash tail) into
/// random keys, with merges: strings and counts equal redis-server's.
#[test]
fn randomized_elements_against_redis() {
    use rand::{Rng, SeedableRng};
    let redwing = Server::start(&[]);
    let redis = Server::redis(&[]);
    let seed: u64 = rand::random();
    println!("seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut ours = RawClient::new(&redwing);
    let mut theirs = RawClient::new(&redis);
    let keys = ["ra", "rb", "rc{ra}", "rd"];
    for _ in 0..300 {
        let key = keys[rng.gen_range(0..keys.len())];
        let elems: Vec<String> = (0..rng.gen_range(0..20))
            .map(|_| {
                let len = rng.gen_range(0..40);
                (0..len)
                    .map(|_| rng.gen_range(b' '..=b'~') as char)
                    .collect()
            })
            .collect();
        let mut args = vec!["PFADD", key];
        args.extend(elems.iter().map(String::as_str));
        both(&mut ours, &mut theirs, &args);
        match rng.gen_range(0..10) {
            0 => {
                let (d, s) = (keys[rng.gen_range(0..4)], keys[rng.gen_range(0..4)]);
                both(&mut ours, &mut theirs, &["PFMERGE", d, s]);
            }
            1 => {
                both(&mut ours, &mut theirs, &["PFCOUNT", key]);
            }
            _ => {}
        }
    }
    for k in keys {
        both(&mut ours, &mut theirs, &["GET", k]);
        both(&mut ours, &mut theirs, &["PFCOUNT", k]);
    }
    both(
        &mut ours,
        &mut theirs,
        &["PFCOUNT", "ra", "rb", "rc{ra}", "rd"],
    );
}
