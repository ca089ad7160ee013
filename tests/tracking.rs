//! Client-side caching: CLIENT TRACKING invalidations in RESP3 and RESP2
//! (redirect), BCAST prefixes, OPTIN/OPTOUT, NOLOOP, FLUSHALL, and the
//! option errors and TRACKINGINFO compared with redis-server.

mod common;

use common::*;

fn invalidate(key: &str) -> String {
    format!(
        ">2\r\n$10\r\ninvalidate\r\n*1\r\n${}\r\n{key}\r\n",
        key.len()
    )
}

/// A key on the same core as `k` (hash tag `{k}`) that starts with `k`
/// (so BCAST prefixes of `k` cover it).
fn near(k: &str) -> String {
    format!("{k}{{{k}}}")
}

/// How the tracking client starts tracking a marker.
#[derive(Clone, Copy)]
enum Reads {
    /// A plain GET (default tracking).
    Get,
    /// CLIENT CACHING yes, then GET (OPTIN).
    OptinGet,
    /// Nothing: BCAST covers the prefix.
    Bcast,
}

/// The negative check done right: proves no unwanted invalidation is
/// pending for `keys` by sending a marker after it, on the same core as
/// each key, and requiring the markers' invalidations to be the next
/// pushes. A late unwanted push cannot pass as "none".
fn next_are_only_markers(
    t: &mut RawClient,
    w: &mut redis::Connection,
    keys: &[&str],
    reads: Reads,
) {
    let markers: Vec<String> = keys.iter().map(|k| near(k)).collect();
    for m in &markers {
        match reads {
            Reads::Get => drop(t.call(&["GET", m])),
            Reads::OptinGet => {
                assert_eq!(t.call(&["CLIENT", "CACHING", "yes"]), "+OK\r\n");
                t.call(&["GET", m]);
            }
            Reads::Bcast => {}
        }
    }
    for m in &markers {
        q(w, &["SET", m, "marker"]);
    }
    let mut got: Vec<String> = markers.iter().map(|_| t.read()).collect();
    let mut want: Vec<String> = markers.iter().map(|m| invalidate(m)).collect();
    got.sort();
    want.sort();
    assert_eq!(
        got, want,
        "an unwanted invalidation came before the markers"
    );
}

#[test]
fn resp3_reader_is_told_of_writes_on_any_core() {
    // The writer on the tracking client's core and on the other one.
    for placement in PLACEMENTS {
        resp3_reader_told(placement);
    }
}

fn resp3_reader_told(placement: Placement) {
    let s = Server::start(&[]);
    let (k0, k1) = keys_on_two_cores("cache:");
    let mut t = s.raw_on_core(0);
    t.call(&["HELLO", "3"]);
    assert_eq!(t.call(&["CLIENT", "TRACKING", "on"]), "+OK\r\n");
    t.call(&["GET", &k0]);
    t.call(&["MGET", &k0, &k1]);
    let mut w = s.conn_on_core(placement.core_for(0));
    q(&mut w, &["SET", &k0, "1"]);
    q(&mut w, &["SET", &k1, "1"]);
    let mut got = vec![t.read(), t.read()];
    got.sort();
    let mut want = vec![invalidate(&k0), invalidate(&k1)];
    want.sort();
    assert_eq!(got, want);
    // Invalidated once: the key is forgotten until read again.
    q(&mut w, &["SET", &k0, "2"]);
    next_are_only_markers(&mut t, &mut w, &[&k0], Reads::Get);
    // A write by the tracking client itself is reported too (no NOLOOP).
    t.call(&["GET", &k1]);
    assert_eq!(t.call(&["SET", &k1, "3"]), "+OK\r\n");
    assert_eq!(t.read(), invalidate(&k1));
    // Writes across cores (RENAME) and expiry invalidate as well.
    t.call(&["GET", &k0]);
    q(&mut w, &["RENAME", &k1, &k0]);
    assert_eq!(t.read(), invalidate(&k0));
    t.call(&["GET", &k0]);
    q(&mut w, &["PEXPIRE", &k0, "1"]);
    assert_eq!(t.read(), invalidate(&k0));
    let info = s.cli(&["INFO", "clients"]);
    assert!(info.contains("tracking_clients:1\r"), "{info}");
}

#[test]
fn resp2_redirect_gets_invalidate_messages() {
    let s = Server::start(&[]);
    let mut r = RawClient::new(&s);
    let id = r.call(&["CLIENT", "ID"]);
    let id = id.trim().trim_start_matches(':').to_string();
    r.call(&["SUBSCRIBE", "__redis__:invalidate"]);
    let mut t = RawClient::new(&s);
    assert_eq!(
        t.call(&["CLIENT", "TRACKING", "on", "REDIRECT", &id]),
        "+OK\r\n"
    );
    assert_eq!(t.call(&["CLIENT", "GETREDIR"]), format!(":{id}\r\n"));
    t.call(&["GET", "user:1"]);
    let mut w = s.conn();
    q(&mut w, &["SET", "user:1", "x"]);
    assert_eq!(
        r.read(),
        "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$6\r\nuser:1\r\n"
    );
    // FLUSHALL invalidates everything: a null key list.
    q(&mut w, &["FLUSHALL"]);
    assert_eq!(
        r.read(),
        "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*-1\r\n"
    );
}

#[test]
fn bcast_optin_noloop() {
    let s = Server::start(&[]);
    let (k0, k1) = keys_on_two_cores("user:");
    let mut b = RawClient::new(&s);
    b.call(&["HELLO", "3"]);
    assert_eq!(
        b.call(&["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "user:", "NOLOOP"]),
        "+OK\r\n"
    );
    let mut w = s.conn();
    q(&mut w, &["SET", &k0, "1"]);
    q(&mut w, &["SET", "other", "1"]);
    q(&mut w, &["SET", &k1, "1"]);
    let mut got = vec![b.read(), b.read()];
    got.sort();
    let mut want = vec![invalidate(&k0), invalidate(&k1)];
    want.sort();
    assert_eq!(got, want);
    // NOLOOP: its own writes are not reported back.
    b.call(&["SET", &k0, "2"]);
    next_are_only_markers(&mut b, &mut w, &[&k0], Reads::Bcast);

    // OPTIN: only reads after CLIENT CACHING yes are tracked.
    let mut o = RawClient::new(&s);
    o.call(&["HELLO", "3"]);
    o.call(&["CLIENT", "TRACKING", "on", "OPTIN"]);
    o.call(&["GET", "a"]);
    assert_eq!(o.call(&["CLIENT", "CACHING", "yes"]), "+OK\r\n");
    o.call(&["GET", "b"]);
    o.call(&["GET", "c"]);
    q(&mut w, &["MSET", "a", "1", "b", "1", "c", "1"]);
    assert_eq!(o.read(), invalidate("b"));
    next_are_only_markers(&mut o, &mut w, &["a", "c"], Reads::OptinGet);
}

#[test]
fn tracking_errors_and_info_match_redis() {
    let ours = Server::start(&[]);
    let redis = Server::redis(&[]);
    let steps: &[&[&str]] = &[
        &["CLIENT", "TRACKINGINFO"],
        &["CLIENT", "GETREDIR"],
        &["CLIENT", "TRACKING", "on", "PREFIX", "a"],
        &["CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"],
        &["CLIENT", "TRACKING", "on", "BCAST", "OPTIN"],
        &["CLIENT", "TRACKING", "on", "REDIRECT", "99999"],
        &["CLIENT", "TRACKING", "on", "FOO"],
        &["CLIENT", "TRACKING", "maybe"],
        &["CLIENT", "CACHING", "yes"],
        &[
            "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a", "PREFIX", "ab",
        ],
        &["CLIENT", "TRACKING", "on", "OPTIN", "NOLOOP"],
        &["CLIENT", "TRACKINGINFO"],
        &["CLIENT", "CACHING", "no"],
        &["CLIENT", "CACHING", "yes"],
        &["CLIENT", "TRACKINGINFO"],
        &["CLIENT", "TRACKING", "on", "OPTOUT"],
        &["CLIENT", "TRACKING", "on", "BCAST"],
        &["CLIENT", "GETREDIR"],
        &["CLIENT", "TRACKING", "off"],
        &["CLIENT", "TRACKINGINFO"],
        &[
            "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "x", "PREFIX", "y",
        ],
        &["CLIENT", "TRACKINGINFO"],
    ];
    same_as_redis(&ours, &redis, steps);
}

/// tracking-table-max-keys: past the limit, keys are evicted from the
/// table with an invalidation each, without any write, as Redis does.
/// Run on both servers; the tracking client on either redwing core.
#[test]
fn tracking_table_max_keys_evicts_with_invalidations() {
    let ours = Server::start(&[]);
    let redis = Server::redis(&[]);
    let runs = [(&ours, Some(0)), (&ours, Some(1)), (&redis, None)];
    for (s, core) in runs {
        let mut admin = s.conn();
        q(&mut admin, &["FLUSHALL"]);
        q(
            &mut admin,
            &["CONFIG", "SET", "tracking-table-max-keys", "4"],
        );
        let mut t = match core {
            Some(core) => s.raw_on_core(core),
            None => RawClient::new(s),
        };
        t.call(&["HELLO", "3"]);
        assert_eq!(t.call(&["CLIENT", "TRACKING", "on"]), "+OK\r\n");
        let keys: Vec<String> = (0..10).map(|i| format!("tk:{i}")).collect();
        // Each GET's reply, and the invalidation pushes that come with it
        // (Redis evicts before running the next command).
        let mut evicted = std::collections::BTreeSet::new();
        let mut take = |t: &mut RawClient, until: &str| loop {
            let got = t.read();
            if got == until {
                break;
            }
            let k = keys
                .iter()
                .find(|k| got == invalidate(k))
                .unwrap_or_else(|| panic!("not an invalidation of a tracked key: {got:?}"));
            assert!(evicted.insert(k.clone()), "{k} invalidated twice");
        };
        for k in &keys {
            t.send(&["GET", k]);
            take(&mut t, "_\r\n");
        }
        wait_for("the table at its limit", TIMEOUT, || {
            let info: String = redis::cmd("INFO").arg("stats").query(&mut admin).unwrap();
            info.lines()
                .find_map(|l| l.strip_prefix("tracking_total_keys:"))
                .is_some_and(|n| n.trim().parse::<u64>().unwrap() <= 4)
        });
        // Every eviction's push is in before a PING's reply: at least 6 of
        // the 10 keys went, each with one invalidation; no key was written.
        t.send(&["PING"]);
        take(&mut t, "+PONG\r\n");
        assert!(evicted.len() >= 6, "{core:?}: {evicted:?}");
    }
}
