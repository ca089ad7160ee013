//! Protocol fuzzer: seeded, deterministic mutations of RESP and inline
//! frames, each sent whole and split at every byte boundary. The server
//! must not crash or hang, must answer what redis-server answers for the
//! same bytes, and must keep serving other clients. Bounded (a few
//! hundred frames, each read to EOF with a timeout).

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use common::{RawClient, Server};
use rand::{Rng, SeedableRng};

const TEMPLATES: &[&[u8]] = &[
    b"*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n",
    b"*1\r\n$4\r\nPING\r\n",
    b"*3\r\n$4\r\nECHO\r\n$1\r\na\r\n$1\r\nb\r\n",
    b"PING\r\n",
    b"ECHO \"a b\" \r\n",
    b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n",
];

/// Bytes that matter to a RESP parser.
const INTERESTING: &[u8] = b"*$\r\n-+:0123456789 \"'\\x\x00\xff";

fn mutate(rng: &mut rand::rngs::StdRng, t: &[u8]) -> Vec<u8> {
    let mut f = t.to_vec();
    for _ in 0..rng.gen_range(1..=3) {
        let at = rng.gen_range(0..f.len().max(1));
        match rng.gen_range(0..5) {
            0 if !f.is_empty() => f[at] = INTERESTING[rng.gen_range(0..INTERESTING.len())],
            1 if f.len() > 1 => {
                f.remove(at);
            }
            2 => f.insert(at, INTERESTING[rng.gen_range(0..INTERESTING.len())]),
            3 => f.truncate(at),
            _ => {
                // Random bytes: a frame no template resembles.
                let n = rng.gen_range(1..24);
                f = (0..n).map(|_| rng.gen()).collect();
            }
        }
    }
    f
}

/// Sends `parts` as separate writes, closes the write side and reads the
/// whole answer (the server closes after EOF or a protocol error). A
/// server that never closes is a hang: the read times out and fails.
fn exchange(s: &Server, parts: &[&[u8]]) -> Vec<u8> {
    let mut t = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    t.set_nodelay(true).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            // Separate reads on the server side.
            std::thread::sleep(Duration::from_micros(300));
        }
        if t.write_all(p).is_err() {
            break;
        }
    }
    let _ = t.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match t.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("no close within {:?}: {e}", start.elapsed()),
        }
    }
    out
}

fn alive(s: &mut Server) {
    assert!(
        matches!(s.child.try_wait(), Ok(None)),
        "server process died"
    );
}

#[test]
fn mutated_frames_match_redis_whole_and_split() {
    let mut rw = Server::start(&[]);
    let rd = Server::redis(&[]);
    let mut other = RawClient::new(&rw);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x012e_d1e9);
    let deadline = Instant::now() + Duration::from_secs(50);
    let mut frames: Vec<Vec<u8>> = TEMPLATES.iter().map(|t| t.to_vec()).collect();
    for i in 0..240 {
        frames.push(mutate(&mut rng, TEMPLATES[i % TEMPLATES.len()]));
    }
    let mut split_checked = 0;
    for (i, f) in frames.iter().enumerate() {
        if Instant::now() > deadline {
            break;
        }
        let shown = String::from_utf8_lossy(f).into_owned();
        let whole = exchange(&rw, &[f]);
        let oracle = exchange(&rd, &[f]);
        assert_eq!(
            String::from_utf8_lossy(&whole),
            String::from_utf8_lossy(&oracle),
            "frame {i} {shown:?}"
        );
        // Every split of the first frames (bounded time); later frames get
        // three random cuts.
        let cuts: Vec<usize> = if i < 40 {
            (1..f.len()).collect()
        } else {
            (0..3.min(f.len().saturating_sub(1)))
                .map(|_| rng.gen_range(1..f.len()))
                .collect()
        };
        for cut in cuts {
            let got = exchange(&rw, &[&f[..cut], &f[cut..]]);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&whole),
                "frame {i} {shown:?} split at {cut}"
            );
            split_checked += 1;
        }
        if i % 20 == 0 {
            alive(&mut rw);
            assert_eq!(other.call(&["PING"]), "+PONG\r\n");
        }
    }
    alive(&mut rw);
    assert_eq!(other.call(&["ECHO", "still"]), "$5\r\nstill\r\n");
    assert!(split_checked > 500, "only {split_checked} splits checked");
}
