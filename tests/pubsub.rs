//! Pub/Sub against real servers: replies compared with redis-server,
//! fan-out to many subscribers on both cores, publish order, subscriber
//! disconnects, and the output-buffer cut-off of a slow subscriber.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::*;

/// The same exchange on both servers gives the same bytes. Not the shared
/// comparison: a subscribe command answers once per channel.
fn same_on_both(steps: &[&[&str]], resp3: bool) {
    let ours = Server::start(&[]);
    let redis = Server::redis(&[]);
    let mut a = RawClient::new(&ours);
    let mut b = RawClient::new(&redis);
    if resp3 {
        a.call(&["HELLO", "3"]);
        b.call(&["HELLO", "3"]);
    }
    for step in steps {
        // Every reply to the step, up to the reply to a PING marker sent
        // after it: no waiting for silence, and a late extra reply cannot
        // go unseen.
        let replies = |c: &mut RawClient| {
            c.send_many(&[step, &["PING", "end-of-step"]]);
            let mut got = Vec::new();
            loop {
                let r = c.read();
                if r.contains("end-of-step") {
                    break got;
                }
                got.push(r);
            }
        };
        let (mut got_a, mut got_b) = (replies(&mut a), replies(&mut b));
        // UNSUBSCRIBE with no names goes through the channels in hash
        // order, so the running counts differ by order: compare the names
        // and the counts each as a sorted list.
        if step.len() == 1 {
            let split = |v: &mut Vec<String>| {
                let mut names: Vec<String> = v
                    .iter()
                    .map(|r| r.split("\r\n").nth(4).unwrap_or("").to_string())
                    .collect();
                let mut counts: Vec<String> = v
                    .iter()
                    .map(|r| r.split("\r\n").nth(5).unwrap_or("").to_string())
                    .collect();
                names.sort();
                counts.sort();
                *v = names.into_iter().chain(counts).collect();
            };
            split(&mut got_a);
            split(&mut got_b);
        }
        assert_eq!(got_a, got_b, "step {step:?}");
    }
}

#[test]
fn subscribe_replies_match_redis_resp2() {
    same_on_both(
        &[
            &["SUBSCRIBE", "a", "b", "a"],
            &["PSUBSCRIBE", "n*", "x?"],
            &["PING"],
            &["PING", "hi"],
            &["GET", "k"],
            &["SET", "k", "v"],
            &["SSUBSCRIBE", "s1"],
            &["UNSUBSCRIBE", "a", "zz"],
            &["PUNSUBSCRIBE"],
            &["UNSUBSCRIBE"],
            &["SUNSUBSCRIBE"],
            &["UNSUBSCRIBE"],
            &["PUNSUBSCRIBE"],
            &["GET", "k"],
            &["SUBSCRIBE"],
        ],
        false,
    );
}

#[test]
fn subscribe_replies_match_redis_resp3() {
    same_on_both(
        &[
            &["SUBSCRIBE", "a", "b"],
            &["GET", "k"],
            &["PING"],
            &["PUBLISH", "zz", "m"],
            &["PSUBSCRIBE", "a*"],
            &["UNSUBSCRIBE", "a"],
            &["PUNSUBSCRIBE", "a*"],
            &["UNSUBSCRIBE"],
            &["PUBSUB", "NUMSUB", "a", "b"],
            &["PUBSUB", "NUMPAT"],
            &["PUBSUB", "FOO"],
            &["PUBSUB", "NUMPAT", "x"],
        ],
        true,
    );
}

/// Reads `n` message pushes from a raw subscriber; returns their payloads.
fn messages(c: &mut RawClient, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let r = c.read();
            r.rsplit("\r\n").nth(1).unwrap_or("").to_string()
        })
        .collect()
}

#[test]
fn fan_out_to_subscribers_on_every_core_in_publish_order() {
    let s = Server::start(&[]);
    // Subscribers on both cores on purpose: half on each.
    let mut subs: Vec<RawClient> = (0..24).map(|i| s.raw_on_core(i % 2)).collect();
    for (i, c) in subs.iter_mut().enumerate() {
        if i % 3 == 0 {
            c.call(&["PSUBSCRIBE", "news.*"]);
        } else {
            c.call(&["SUBSCRIBE", "news.tech"]);
        }
    }
    let list = s.cli(&["CLIENT", "LIST"]);
    for core in ["core=0", "core=1"] {
        let on = list
            .lines()
            .filter(|l| l.contains("flags=P") && l.ends_with(core))
            .count();
        assert_eq!(on, 12, "subscribers with {core}:\n{list}");
    }

    // Publishers on both cores, alternating: every subscriber still sees
    // the messages in publish order.
    let mut publishers = [s.conn_on_core(0), s.conn_on_core(1)];
    let n = 200;
    for i in 0..n {
        let publisher = &mut publishers[i % 2];
        let got = int(publisher, &["PUBLISH", "news.tech", &format!("m{i}")]);
        assert_eq!(got, 24, "PUBLISH counts every receiver");
    }
    let [mut publisher, _] = publishers;
    assert_eq!(int(&mut publisher, &["PUBLISH", "other", "x"]), 0);
    let want: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    for c in subs.iter_mut() {
        assert_eq!(messages(c, n), want);
    }
    let numsub = q(&mut publisher, &["PUBSUB", "NUMSUB", "news.tech", "none"]);
    assert!(
        numsub.contains("int(16)") && numsub.contains("int(0)"),
        "{numsub}"
    );
    assert_eq!(int(&mut publisher, &["PUBSUB", "NUMPAT"]), 1);
    let info = s.cli(&["INFO", "stats"]);
    assert!(info.contains("pubsub_channels:1\r"), "{info}");
    assert!(info.contains("pubsub_patterns:1\r"), "{info}");

    // Subscribers that disconnect stop counting.
    subs.truncate(10);
    let deadline = Instant::now() + TIMEOUT;
    while int(&mut publisher, &["PUBLISH", "news.tech", "late"]) != 10 {
        assert!(
            Instant::now() < deadline,
            "disconnected subscribers still counted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn shard_channels_and_resp3_pushes_alongside_commands() {
    let s = Server::start(&[]);
    let mut sub = RawClient::new(&s);
    sub.call(&["HELLO", "3"]);
    assert_eq!(
        sub.call(&["SSUBSCRIBE", "orders"]),
        ">3\r\n$10\r\nssubscribe\r\n$6\r\norders\r\n:1\r\n"
    );
    // RESP3: normal commands keep working while subscribed.
    assert_eq!(sub.call(&["SET", "k", "v"]), "+OK\r\n");
    let mut p = s.conn();
    assert_eq!(int(&mut p, &["SPUBLISH", "orders", "o1"]), 1);
    assert_eq!(int(&mut p, &["PUBLISH", "orders", "o1"]), 0);
    assert_eq!(
        sub.read(),
        ">3\r\n$8\r\nsmessage\r\n$6\r\norders\r\n$2\r\no1\r\n"
    );
    assert_eq!(sub.call(&["GET", "k"]), "$1\r\nv\r\n");
    let chans = q(&mut p, &["PUBSUB", "SHARDCHANNELS"]);
    assert!(chans.contains("orders"), "{chans}");
}

#[test]
fn slow_subscriber_is_cut_off_without_hurting_others() {
    // The publisher on the slow subscriber's core and on the other one.
    for placement in PLACEMENTS {
        slow_subscriber_cut_off(placement);
    }
}

fn slow_subscriber_cut_off(placement: Placement) {
    let s = Server::start(&[]);
    let mut admin = s.conn();
    q(
        &mut admin,
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 4mb 0 0",
        ],
    );
    let got = s.cli(&["CONFIG", "GET", "client-output-buffer-limit"]);
    assert!(
        got.contains("normal 0 0 0 slave 268435456 67108864 60 pubsub 4194304 0 0"),
        "{got}"
    );
    // The slow one subscribes and never reads.
    let mut slow_c = s.raw_on_core(0);
    assert!(slow_c.call(&["SUBSCRIBE", "feed"]).contains("subscribe"));
    // The fast one, on the other core, reads everything on a thread.
    let mut fast_c = s.raw_on_core(1);
    assert!(fast_c.call(&["SUBSCRIBE", "feed"]).contains("subscribe"));
    let (mut slow, mut fast) = (slow_c.into_stream(), fast_c.into_stream());
    let payload = "x".repeat(10_000);
    let total = 3000;
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut seen = 0usize;
        let deadline = Instant::now() + Duration::from_secs(60);
        let want = total * 10_000;
        while seen < want && Instant::now() < deadline {
            match fast.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen += buf[..n].iter().filter(|&&b| b == b'x').count(),
            }
        }
        seen
    });
    let mut p = s.conn_on_core(placement.core_for(0));
    let mut last = 0;
    for _ in 0..total {
        last = int(&mut p, &["PUBLISH", "feed", &payload]);
    }
    assert_eq!(
        last, 1,
        "the slow subscriber was disconnected ({placement:?})"
    );
    assert_eq!(
        reader.join().unwrap(),
        total * 10_000,
        "the fast one got all ({placement:?})"
    );
    wait_for("the cut-off in the log", TIMEOUT, || {
        s.log_text()
            .contains("scheduled to be closed ASAP for overcoming of output buffer limits")
    });
    // The cut-off connection is closed: reading what was sent before the
    // cut-off ends with end-of-file (or a reset), not with the timeout.
    slow.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut sink = Vec::new();
    match slow.read_to_end(&mut sink) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the cut-off connection is still open ({placement:?}): {e}"),
    }
}

#[test]
fn output_limit_option_errors_match_redis() {
    let ours = Server::start(&[]);
    let redis = Server::redis(&[]);
    let mut steps: Vec<[&str; 4]> = Vec::new();
    let limits = [
        "pubsub 1mb 512kb",
        "foo 1 1 1",
        "pubsub x 1 1",
        "replica 1mb 1kb 5 pubsub 10 10 10",
        "normal 0 0 0",
    ];
    let events = ["KEA", "Ex", "zA", "nKm", "An", "KQ", ""];
    for (name, values) in [
        ("client-output-buffer-limit", &limits[..]),
        ("notify-keyspace-events", &events[..]),
    ] {
        for v in values {
            steps.push(["CONFIG", "SET", name, v]);
            steps.push(["CONFIG", "GET", name, ""]);
        }
    }
    let steps: Vec<&[&str]> = steps
        .iter()
        .map(|s| if s[1] == "GET" { &s[..3] } else { &s[..] })
        .collect();
    same_as_redis_both(&ours, &redis, &steps);
}

/// PUBSUB CHANNELS (with and without a pattern), NUMSUB, SHARDCHANNELS
/// and SHARDNUMSUB with subscribers on both cores: the same bytes as
/// redis-server (the shared comparison; the channel lists compared as
/// sets, their order being Redis's hash table's).
#[test]
fn pubsub_introspection_matches_redis() {
    let ours = Server::start(&[]);
    let redis = Server::redis(&[]);
    // Subscribers: on both redwing cores on purpose, held open meanwhile.
    let mut subs = Vec::new();
    for (i, sub) in [
        &["SUBSCRIBE", "news.a", "news.b"][..],
        &["SUBSCRIBE", "news.a", "other"],
        &["PSUBSCRIBE", "news.*"],
        &["SSUBSCRIBE", "orders"],
        &["SSUBSCRIBE", "orders", "{orders}2"],
    ]
    .iter()
    .enumerate()
    {
        for (s, c) in [(&ours, Some(i % 2)), (&redis, None)] {
            let mut c = match c {
                Some(core) => s.raw_on_core(core),
                None => RawClient::new(s),
            };
            c.send(sub);
            for _ in 1..sub.len() {
                c.read();
            }
            subs.push(c);
        }
    }
    let [resp2, _] = same_as_redis(
        &ours,
        &redis,
        &[
            &["PUBSUB", "CHANNELS"],
            &["PUBSUB", "CHANNELS", "news.*"],
            &["PUBSUB", "CHANNELS", "nomatch*"],
            &["PUBSUB", "NUMSUB", "news.a", "news.b", "other", "none"],
            &["PUBSUB", "NUMPAT"],
            &["PUBSUB", "SHARDCHANNELS"],
            &["PUBSUB", "SHARDCHANNELS", "ord*"],
            &["PUBSUB", "SHARDNUMSUB", "orders", "{orders}2", "none"],
            &["PUBSUB", "SHARDNUMSUB"],
        ],
    );
    // Not vacuous: the channels are there.
    assert!(shown(&resp2[0].0).contains("news.a"));
    assert!(shown(&resp2[7].0).contains(":2"));
}
