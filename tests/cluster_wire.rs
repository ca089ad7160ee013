//! The cluster bus codec (`redwing::cluster::wire`) against a real
//! `redis-server --cluster-enabled yes`: a fake node built from wire.rs
//! messages MEETs it, answers its PINGs, and Redis's CLUSTER NODES then
//! shows the fake node with its id, address, hostname, flags and slots.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use redwing::cluster::wire::{
    kind, node, Body, FrameReader, Header, Message, NodeId0, Ping, Slots,
};

const FAKE_ID: &[u8; 40] = b"0123456789abcdef0123456789abcdef01234567";

fn fake_header(port: u16, cport: u16) -> Header {
    let mut slots = Slots::default();
    (100..=200).for_each(|s| slots.set(s, true));
    Header {
        port,
        current_epoch: 1,
        config_epoch: 1,
        sender: NodeId0(*FAKE_ID),
        myslots: slots,
        myip: "127.0.0.1".into(),
        cport,
        flags: node::MASTER | node::MYSELF,
        ..Header::default()
    }
}

fn ping(header: &Header, body: fn(Ping) -> Body) -> Vec<u8> {
    Message {
        header: header.clone(),
        body: body(Ping {
            gossip: vec![],
            hostname: Some("fake-host".into()),
        }),
    }
    .encode()
}

/// The next whole frame Redis sent, decoded; it must re-encode to the
/// same bytes.
fn decoded(r: &mut FrameReader) -> Option<Message> {
    let frame = r.next_frame().expect("a valid frame from Redis")?;
    let m = Message::decode(&frame).expect("Redis's frame decodes");
    assert!(
        m.encode() == frame,
        "re-encoding {:?} differs",
        m.body.kind()
    );
    Some(m)
}

/// Reads until a message is whole, or `until` passes.
fn next_message(s: &mut TcpStream, r: &mut FrameReader, until: Instant) -> Option<Message> {
    loop {
        if let Some(m) = decoded(r) {
            return Some(m);
        }
        let mut buf = [0u8; 8192];
        match s.read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => r.push(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("bus read: {e}"),
        }
        if Instant::now() > until {
            return decoded(r);
        }
    }
}

#[test]
fn a_fake_node_built_by_wire_joins_redis() {
    let redis = Server::redis(&["--cluster-enabled", "yes", "--cluster-node-timeout", "5000"]);
    let mut c = redis.conn();
    let redis_id: String = cmd(&["CLUSTER", "MYID"]).query(&mut c).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let cport = listener.local_addr().unwrap().port();
    let port = free_port();
    let header = fake_header(port, cport);

    // MEET on our link to Redis's bus port; Redis answers PONG.
    let mut bus = TcpStream::connect(("127.0.0.1", redis.port + 10000)).unwrap();
    bus.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    bus.write_all(&ping(&header, Body::Meet)).unwrap();
    let mut reader = FrameReader::default();
    let deadline = Instant::now() + TIMEOUT;
    let pong = next_message(&mut bus, &mut reader, deadline).expect("a PONG to MEET");
    assert_eq!(pong.body.kind(), kind::PONG);
    assert_eq!(String::from_utf8_lossy(&pong.header.sender.0), redis_id);
    assert_eq!(
        (pong.header.port, pong.header.cport),
        (redis.port, redis.port + 10000)
    );
    assert_eq!(pong.header.flags, node::MASTER | node::MYSELF);
    assert_eq!(pong.header.myslots.iter().count(), 0);

    // Redis connects to the fake node's bus port and PINGs; PONGs go back.
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = {
        let (stop, seen, header) = (stop.clone(), seen.clone(), header.clone());
        std::thread::spawn(move || {
            let until = Instant::now() + TIMEOUT;
            let mut link = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(_) if Instant::now() < until => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(e) => panic!("Redis never connected: {e}"),
                }
            };
            link.set_nonblocking(false).unwrap();
            link.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let mut r = FrameReader::default();
            while !stop.load(Ordering::Relaxed) {
                let soon = Instant::now() + Duration::from_millis(200);
                if let Some(m) = next_message(&mut link, &mut r, soon) {
                    let k = m.body.kind();
                    seen.lock().unwrap().push(k);
                    if k == kind::PING || k == kind::MEET {
                        link.write_all(&ping(&header, Body::Pong)).unwrap();
                    }
                }
            }
        })
    };

    let want = format!("127.0.0.1:{port}@{cport},fake-host");
    let fake_id = String::from_utf8_lossy(FAKE_ID).into_owned();
    let mut line = String::new();
    wait_for(
        "Redis to show the fake node with its slots",
        TIMEOUT,
        || {
            // Our own PINGs make Redis process our slots as soon as it knows us.
            bus.write_all(&ping(&header, Body::Ping)).unwrap();
            while next_message(&mut bus, &mut reader, Instant::now()).is_some() {}
            let nodes: String = cmd(&["CLUSTER", "NODES"]).query(&mut c).unwrap();
            line = nodes
                .lines()
                .find(|l| l.starts_with(&fake_id))
                .unwrap_or_default()
                .to_string();
            let f: Vec<&str> = line.split(' ').collect();
            f.len() == 9
                && f[1] == want
                && f[2] == "master"
                && f[7] == "connected"
                && f[8] == "100-200"
        },
    );
    assert!(
        line.starts_with(&format!("{fake_id} {want} master - ")),
        "{line}"
    );
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    assert!(
        seen.lock().unwrap().contains(&kind::PING),
        "{:?}",
        seen.lock().unwrap()
    );
    let info: String = cmd(&["CLUSTER", "INFO"]).query(&mut c).unwrap();
    assert!(info.contains("cluster_known_nodes:2"), "{info}");
}
