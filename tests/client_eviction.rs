//! Client eviction (`maxmemory-clients`), side by side with redis-server 7.0:
//! clients whose buffers push the total over the limit are closed, biggest
//! first; CLIENT NO-EVICT exempts a client; INFO counts the evictions.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn config_values_match_redis() {
    compare_with_redis(
        &[],
        &[
            &["CONFIG", "GET", "maxmemory-clients"],
            &["CONFIG", "SET", "maxmemory-clients", "10%"],
            &["CONFIG", "GET", "maxmemory-clients"],
            &["CONFIG", "SET", "maxmemory-clients", "101%"],
            &["CONFIG", "SET", "maxmemory-clients", "-5%"],
            &["CONFIG", "SET", "maxmemory-clients", "lots"],
            &["CONFIG", "SET", "maxmemory-clients", "1mb"],
            &["CONFIG", "GET", "maxmemory-clients"],
            &["CONFIG", "SET", "maxmemory-clients", "0"],
            &["CONFIG", "GET", "maxmemory-clients"],
        ],
    );
}

/// A raw connection that has sent the start of a SET with a `total`-byte
/// value and `sent` bytes of it: its query buffer holds them.
fn half_sent_set(s: &Server, core: Option<usize>, sent: usize) -> TcpStream {
    let mut c = match core {
        Some(n) => s.raw_on_core(n).into_stream(),
        None => s.raw(),
    };
    let total = sent * 4;
    let head = format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${total}\r\n");
    // Redis may close it before all is sent (it sizes the buffer from the
    // announced length): a failed write is for `closed_within` to see.
    let _ = c.write_all(head.as_bytes());
    let _ = c.write_all(&vec![b'x'; sent]);
    c
}

/// Whether the server closed `c` within `wait` (EOF or reset on read).
fn closed_within(c: &mut TcpStream, wait: Duration) -> bool {
    let until = Instant::now() + wait;
    let mut buf = [0u8; 64];
    while Instant::now() < until {
        c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        match c.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => panic!("unexpected reply: {}", shown(&buf)),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

/// INFO stats `evicted_clients`, asked by `admin` (a NO-EVICT client: while
/// the total is over the limit, a new client may be evicted at once).
fn evicted(admin: &mut RawClient) -> i64 {
    let info = admin.call(&["INFO", "stats"]);
    let field = info
        .lines()
        .find_map(|l| l.strip_prefix("evicted_clients:"));
    field
        .expect("evicted_clients in INFO stats")
        .parse()
        .unwrap()
}

/// One client's query buffer past the limit closes it; an idle client and a
/// NO-EVICT client with the same buffer stay, on both servers.
#[test]
fn a_big_client_is_closed_and_no_evict_exempts() {
    let redwing = Server::start(&["--threads", "2"]);
    let redis = Server::redis(&[]);
    for s in [&redwing, &redis] {
        let mut admin = RawClient::new(s);
        assert_eq!(admin.call(&["CLIENT", "NO-EVICT", "ON"]), "+OK\r\n");
        assert_eq!(
            admin.call(&["CONFIG", "SET", "maxmemory-clients", "1mb"]),
            "+OK\r\n"
        );
        let mut idle = RawClient::new(s);
        let mut big = half_sent_set(s, None, 1_500_000);
        assert!(
            closed_within(&mut big, Duration::from_secs(5)),
            "{}: a 1.5 MB query buffer over a 1 MB limit is evicted",
            s.url()
        );
        assert_eq!(evicted(&mut admin), 1, "{}", s.url());
        assert_eq!(idle.call(&["PING"]), "+PONG\r\n");

        // CLIENT NO-EVICT ON: the same buffer is kept and the SET completes.
        // (Meanwhile the total is over the limit: other clients may go.)
        let mut exempt = RawClient::new(s);
        assert_eq!(exempt.call(&["CLIENT", "NO-EVICT", "ON"]), "+OK\r\n");
        let mut c = exempt.into_stream();
        let sent = 1_500_000;
        c.write_all(format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${sent}\r\n").as_bytes())
            .unwrap();
        c.write_all(&vec![b'x'; sent]).unwrap();
        assert!(!closed_within(&mut c, Duration::from_millis(500)));
        c.write_all(b"\r\n").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut reply = [0u8; 5];
        c.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"+OK\r\n");
        assert_eq!(
            admin.call(&["STRLEN", "big"]),
            format!(":{sent}\r\n"),
            "{}",
            s.url()
        );
        assert_eq!(admin.call(&["CONFIG", "RESETSTAT"]), "+OK\r\n");
        assert_eq!(evicted(&mut admin), 0);
    }
}

/// The limit is for all cores together: two clients of 700 KB each, placed
/// on the same core and on different cores on purpose, pass a 1 MB limit
/// together, and exactly one of them is closed.
#[test]
fn the_limit_counts_clients_of_every_core() {
    let s = Server::start(&["--threads", "2"]);
    let mut admin = RawClient::new(&s);
    admin.call(&["CLIENT", "NO-EVICT", "ON"]);
    admin.call(&["CONFIG", "SET", "maxmemory-clients", "1mb"]);
    for (i, placement) in PLACEMENTS.into_iter().enumerate() {
        let mut first = half_sent_set(&s, Some(0), 700_000);
        assert!(!closed_within(&mut first, Duration::from_millis(300)));
        let mut second = half_sent_set(&s, Some(placement.core_for(0)), 700_000);
        let one = closed_within(&mut second, Duration::from_secs(3))
            || closed_within(&mut first, Duration::from_secs(1));
        assert!(one, "{placement:?}: one of two 700 KB clients is evicted");
        assert_eq!(evicted(&mut admin), i as i64 + 1, "{placement:?}: only one");
        drop((first, second));
        wait_for("only the admin client left", Duration::from_secs(5), || {
            admin.call(&["CLIENT", "LIST"]).matches("id=").count() == 1
        });
    }
    // Off again: nothing is evicted.
    admin.call(&["CONFIG", "SET", "maxmemory-clients", "0"]);
    let mut a = half_sent_set(&s, Some(0), 700_000);
    let mut b = half_sent_set(&s, Some(1), 700_000);
    assert!(!closed_within(&mut a, Duration::from_millis(300)));
    assert!(!closed_within(&mut b, Duration::from_millis(10)));
    assert_eq!(evicted(&mut admin), 2);
}
