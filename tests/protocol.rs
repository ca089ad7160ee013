//! Wire-level behaviour over raw TCP, checked against redis-server 7.0
//! (the oracle) byte for byte wherever Redis defines the bytes: pipelining,
//! inline commands, RESP3, malformed input, AUTH, QUIT, CLIENT, and the
//! limits that close a client (query buffer, maxclients, idle timeout).
mod common;
use common::*;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Starts redwing and the Redis oracle with the same options.
fn both(args: &[&str]) -> [Server; 2] {
    [Server::start(args), Server::redis(args)]
}

/// A connection the server has accepted and answers (a server at its
/// maxclients limit may still be counting a client that just left).
fn served(s: &Server) -> TcpStream {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let mut c = s.raw();
        let _ = c.write_all(b"PING\r\n");
        let got = read_replies(&mut c, 1);
        if got == b"+PONG\r\n" {
            return c;
        }
        assert!(Instant::now() < deadline, "not served: {}", text(&got));
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn name(i: usize) -> &'static str {
    ["redwing", "redis"][i]
}

/// Length of the one complete RESP reply at the start of `b`, if complete.
fn reply_len(b: &[u8]) -> Option<usize> {
    let nl = b.windows(2).position(|w| w == b"\r\n")?;
    let head = std::str::from_utf8(&b[1..nl]).ok();
    let after = nl + 2;
    let num = || head.and_then(|h| h.parse::<i64>().ok());
    match *b.first()? {
        b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => Some(after),
        b'$' | b'=' | b'!' => {
            let n = num()?;
            if n < 0 {
                return Some(after);
            }
            let end = after + n as usize + 2;
            (b.len() >= end).then_some(end)
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = num()?;
            let items = if matches!(b[0], b'%' | b'|') {
                2 * n
            } else {
                n
            };
            let mut at = after;
            for _ in 0..items.max(0) {
                at += reply_len(&b[at..])?;
            }
            Some(at)
        }
        _ => panic!("not a RESP reply: {:?}", String::from_utf8_lossy(b)),
    }
}

/// Number of complete replies in `b`.
fn count_replies(b: &[u8]) -> usize {
    let (mut at, mut n) = (0, 0);
    while at < b.len() {
        match reply_len(&b[at..]) {
            Some(l) => {
                at += l;
                n += 1;
            }
            None => break,
        }
    }
    n
}

/// Reads until `n` complete replies have arrived (or the peer closes, or
/// the timeout passes); returns the bytes.
fn read_replies(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    let mut buf = vec![0u8; 1 << 16];
    while count_replies(&got) < n && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => got.extend_from_slice(&buf[..k]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    got
}

/// Sends `req` and reads `n` replies.
fn send(s: &mut TcpStream, req: &[u8], n: usize) -> Vec<u8> {
    s.write_all(req).unwrap();
    read_replies(s, n)
}

/// Reads until the peer closes the connection (EOF or reset): returns what
/// came before, and whether it closed within `wait`.
fn read_to_close(s: &mut TcpStream, wait: Duration) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let deadline = Instant::now() + wait;
    let mut buf = vec![0u8; 1 << 16];
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let closed = loop {
        if Instant::now() >= deadline {
            break false;
        }
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(k) => got.extend_from_slice(&buf[..k]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break true,
        }
    };
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    (got, closed)
}

/// Whether the connection is still open: nothing arrives and no EOF
/// within `wait`.
fn stays_open(s: &mut TcpStream, wait: Duration) -> bool {
    let (got, closed) = read_to_close(s, wait);
    got.is_empty() && !closed
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Replaces the value of the `id` field of a HELLO reply with 0.
fn hello_without_id(b: &[u8]) -> String {
    let t = text(b);
    match t.find("$2\r\nid\r\n:") {
        Some(i) => {
            let start = i + "$2\r\nid\r\n:".len();
            let end = start + t[start..].find("\r\n").unwrap();
            format!("{}0{}", &t[..start], &t[end..])
        }
        None => t,
    }
}

/// A RESP multibulk request.
fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[test]
fn pipeline_of_hundreds_in_one_write_answers_in_order() {
    let servers = both(&[]);
    let (ka, kb) = keys_on_two_cores("pipe:");
    let mut req = Vec::new();
    let mut n = 0;
    for i in 0..150 {
        let v = format!("v{i}");
        let k = format!("k{i}");
        req.extend(resp(&[b"SET", k.as_bytes(), v.as_bytes()]));
        req.extend(resp(&[b"GET", k.as_bytes()]));
        req.extend(resp(&[b"INCR", ka.as_bytes()]));
        req.extend(resp(&[b"INCR", kb.as_bytes()]));
        req.extend(b"PING\r\n");
        n += 5;
    }
    req.extend(resp(&[b"MGET", ka.as_bytes(), kb.as_bytes(), b"k7"]));
    req.extend(resp(&[b"GET", b"missing"]));
    n += 2;
    let mut replies = Vec::new();
    for s in &servers {
        let mut c = s.raw();
        let got = send(&mut c, &req, n);
        assert_eq!(count_replies(&got), n, "{}", text(&got));
        replies.push(got);
    }
    assert_eq!(text(&replies[0]), text(&replies[1]));
    assert!(text(&replies[0]).ends_with("*3\r\n$3\r\n150\r\n$3\r\n150\r\n$2\r\nv7\r\n$-1\r\n"));
}

#[test]
fn pipeline_split_across_many_small_writes() {
    let servers = both(&[]);
    let mut req = Vec::new();
    for i in 0..300 {
        req.extend(resp(&[b"SET", format!("s{i}").as_bytes(), &[b'x'; 100]]));
        req.extend(resp(&[b"STRLEN", format!("s{i}").as_bytes()]));
    }
    let mut replies = Vec::new();
    for s in &servers {
        let mut c = s.raw();
        c.set_nodelay(true).unwrap();
        for chunk in req.chunks(37) {
            c.write_all(chunk).unwrap();
        }
        replies.push(read_replies(&mut c, 600));
    }
    assert_eq!(count_replies(&replies[0]), 600);
    assert_eq!(text(&replies[0]), text(&replies[1]));
}

#[test]
fn inline_commands() {
    let servers = both(&[]);
    let req: &[u8] =
        b"PING\r\nPING hello\r\nSET a \"b c\"\r\nGET a\r\nSET q \"\\x41\\n\" \r\nGET q\r\n\
ECHO 'it\\'s'\r\n\r\n   \r\nEXISTS a q nope\nGET a\nECHO a\"b c\"\r\nECHO x'y'\r\n";
    let mut replies = Vec::new();
    for s in &servers {
        let mut c = s.raw();
        replies.push(send(&mut c, req, 11));
    }
    assert_eq!(
        text(&replies[0]),
        "+PONG\r\n$5\r\nhello\r\n+OK\r\n$3\r\nb c\r\n+OK\r\n$2\r\nA\n\r\n$4\r\nit's\r\n:2\r\n$3\r\nb c\r\n$4\r\nab c\r\n$2\r\nxy\r\n"
    );
    assert_eq!(text(&replies[0]), text(&replies[1]));
}

#[test]
fn hello_3_switches_to_resp3_maps() {
    let servers = both(&[]);
    let mut replies = Vec::new();
    for s in &servers {
        let mut c = s.raw();
        let hello = send(&mut c, b"HELLO 3\r\n", 1);
        assert!(hello.starts_with(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"));
        let rest = send(
            &mut c,
            b"GET nokey\r\nSET k v\r\nGET k\r\nHELLO 2\r\nGET nokey\r\n",
            5,
        );
        replies.push((hello_without_id(&hello), hello_without_id(&rest)));
    }
    assert_eq!(replies[0], replies[1]);
    assert!(replies[0].1.starts_with("_\r\n+OK\r\n$1\r\nv\r\n*14\r\n"));
    assert!(replies[0].1.ends_with("$-1\r\n"));
}

#[test]
fn hello_errors() {
    let servers = both(&[]);
    let req: &[u8] = b"HELLO 4\r\nHELLO x\r\nHELLO 3 FOO\r\nHELLO 3 AUTH default\r\n\
HELLO 3 SETNAME \"a b\"\r\nHELLO 3 AUTH default pw\r\nPING\r\n";
    let mut replies = Vec::new();
    for s in &servers {
        let mut c = s.raw();
        replies.push(text(&send(&mut c, req, 7)));
    }
    assert_eq!(
        hello_without_id(replies[0].as_bytes()),
        hello_without_id(replies[1].as_bytes())
    );
    assert!(replies[0].starts_with("-NOPROTO unsupported protocol version\r\n"));
}

/// Sends `before` then `bad` in one write on a fresh connection while
/// another connection (opened first) idles; expects the replies to the
/// commands before it, then the error, then the close, and the other
/// connection still served. Returns what the bad connection received.
fn protocol_error_case(s: &Server, bad: &[u8]) -> Vec<u8> {
    let mut other = s.raw();
    assert_eq!(send(&mut other, b"PING\r\n", 1), b"+PONG\r\n");
    let mut c = s.raw();
    let mut req = b"PING\r\n".to_vec();
    req.extend(resp(&[b"SET", b"before", b"1"]));
    req.extend_from_slice(bad);
    // A big request may be cut short by the server closing; that is fine.
    let _ = c.write_all(&req);
    let (got, closed) = read_to_close(&mut c, TIMEOUT);
    assert!(closed, "connection left open after {:?}", text(&got));
    assert_eq!(send(&mut other, b"GET before\r\n", 1), b"$1\r\n1\r\n");
    got
}

#[test]
fn malformed_requests_close_with_redis_errors() {
    let big_inline = vec![b'a'; 70_000];
    let mut big_count = b"*".to_vec();
    big_count.extend(vec![b'1'; 70_000]);
    let mut big_bulk_count = b"*2\r\n$3\r\nGET\r\n$".to_vec();
    big_bulk_count.extend(vec![b'1'; 70_000]);
    let cases: &[(&[u8], &str)] = &[
        (b"*x\r\n", "invalid multibulk length"),
        (b"*3000000000\r\n", "invalid multibulk length"),
        (b"*1\r\n$-5\r\n", "invalid bulk length"),
        (b"*1\r\n$abc\r\n", "invalid bulk length"),
        (b"*2\r\n$3\r\nGET\r\nX\r\n", "expected '$', got 'X'"),
        (b"SET a \"b c\r\n", "unbalanced quotes in request"),
        (b"SET a 'b c'd\r\n", "unbalanced quotes in request"),
        (b"ECHO a\"b\r\n", "unbalanced quotes in request"),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$2000000\r\n",
            "invalid bulk length",
        ),
        (&big_inline, "too big inline request"),
        (&big_count, "too big mbulk count string"),
        (&big_bulk_count, "too big bulk count string"),
    ];
    let servers = both(&["--proto-max-bulk-len", "1mb"]);
    for (bad, err) in cases {
        let want = format!("+PONG\r\n+OK\r\n-ERR Protocol error: {err}\r\n");
        for (i, s) in servers.iter().enumerate() {
            let got = protocol_error_case(s, bad);
            assert_eq!(
                text(&got),
                want,
                "{} for {:?}",
                name(i),
                text(&bad[..bad.len().min(40)])
            );
        }
    }
}

#[test]
fn malformed_input_after_a_partial_command() {
    // The bad byte arrives in a later read than the start of the command.
    let servers = both(&[]);
    for (i, s) in servers.iter().enumerate() {
        let mut c = s.raw();
        c.set_nodelay(true).unwrap();
        c.write_all(b"*2\r\n$3\r\nGET\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(100));
        c.write_all(b"$x\r\n").unwrap();
        let (got, closed) = read_to_close(&mut c, TIMEOUT);
        assert!(closed, "{}", name(i));
        assert_eq!(
            text(&got),
            "-ERR Protocol error: invalid bulk length\r\n",
            "{}",
            name(i)
        );
    }
}

#[test]
fn bulk_at_the_limit_is_accepted() {
    let servers = both(&["--proto-max-bulk-len", "1mb"]);
    let value = vec![b'v'; 1024 * 1024];
    for s in &servers {
        let mut c = s.raw();
        let got = send(&mut c, &resp(&[b"SET", b"big", &value]), 1);
        assert_eq!(got, b"+OK\r\n");
        assert_eq!(send(&mut c, b"STRLEN big\r\n", 1), b":1048576\r\n");
    }
}

#[test]
fn auth_flows_with_requirepass() {
    let servers = both(&["--requirepass", "s3cret"]);
    // Each step on a fresh connection: (request, replies expected).
    let steps: &[(&[u8], usize)] = &[
        (b"PING\r\nGET a\r\nCLIENT ID\r\n", 3),
        (b"AUTH wrong\r\nPING\r\n", 2),
        (
            b"AUTH default wrong\r\nAUTH nobody s3cret\r\nAUTH a b c\r\n",
            3,
        ),
        (b"AUTH s3cret\r\nPING\r\nAUTH wrong\r\nPING\r\n", 4),
        (b"AUTH default s3cret\r\nSET k v\r\nGET k\r\n", 3),
        (b"HELLO 3 AUTH default wrong\r\nPING\r\n", 2),
        (b"HELLO 3 AUTH default s3cret\r\nGET k\r\nGET none\r\n", 3),
        (
            b"HELLO 2 AUTH default s3cret SETNAME app\r\nCLIENT GETNAME\r\n",
            2,
        ),
        (b"QUIT\r\n", 1),
    ];
    for (req, n) in steps {
        let mut got = Vec::new();
        for s in &servers {
            let mut c = s.raw();
            got.push(hello_without_id(&send(&mut c, req, *n)));
        }
        assert_eq!(got[0], got[1], "for {:?}", text(req));
    }
    // The texts a user sees.
    let mut c = servers[0].raw();
    assert_eq!(
        text(&send(&mut c, b"PING\r\nAUTH x\r\n", 2)),
        "-NOAUTH Authentication required.\r\n-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    let hello = send(&mut c, b"HELLO 3 AUTH default s3cret\r\n", 1);
    assert!(hello.starts_with(b"%7\r\n"), "{}", text(&hello));
}

#[test]
fn unauthenticated_clients_get_small_request_limits() {
    let servers = both(&["--requirepass", "pw"]);
    for req in [&b"*11\r\n"[..], b"*1\r\n$16385\r\n"] {
        let mut got = Vec::new();
        for s in &servers {
            let mut c = s.raw();
            c.write_all(req).unwrap();
            let (out, closed) = read_to_close(&mut c, TIMEOUT);
            assert!(closed);
            got.push(text(&out));
        }
        assert_eq!(got[0], got[1]);
    }
    // After AUTH the normal limits apply, in the same write.
    let mut c = servers[0].raw();
    let mut req = b"AUTH pw\r\n".to_vec();
    req.extend(resp(&[b"SET", b"k", &[b'x'; 20_000]]));
    req.extend(b"STRLEN k\r\n");
    assert_eq!(text(&send(&mut c, &req, 3)), "+OK\r\n+OK\r\n:20000\r\n");
}

#[test]
fn hello_before_auth_says_noauth() {
    let servers = both(&["--requirepass", "pw"]);
    let mut got = Vec::new();
    for s in &servers {
        let mut c = s.raw();
        got.push(text(&send(&mut c, b"HELLO 3\r\n", 1)));
    }
    assert_eq!(got[0], got[1]);
}

#[test]
fn auth_without_requirepass() {
    compare_with_redis(&[], &[&["AUTH", "x"], &["AUTH", "default", "x"]]);
}

#[test]
fn quit_answers_then_closes() {
    let servers = both(&[]);
    for (i, s) in servers.iter().enumerate() {
        let mut c = s.raw();
        c.write_all(b"SET q 1\r\nQUIT\r\nSET q 2\r\n").unwrap();
        let (got, closed) = read_to_close(&mut c, TIMEOUT);
        assert!(closed, "{}", name(i));
        assert_eq!(text(&got), "+OK\r\n+OK\r\n", "{}", name(i));
        let mut d = s.raw();
        assert_eq!(send(&mut d, b"GET q\r\n", 1), b"$1\r\n1\r\n", "{}", name(i));
    }
}

#[test]
fn client_reply_off_and_skip() {
    let servers = both(&[]);
    let req: &[u8] =
        b"CLIENT REPLY OFF\r\nSET a 1\r\nINCR a\r\nGET a\r\nCLIENT REPLY SKIP\r\nPING\r\n\
CLIENT REPLY ON\r\nGET a\r\nCLIENT REPLY SKIP\r\nINCR a\r\nGET a\r\nCLIENT REPLY FOO\r\n";
    let mut got = Vec::new();
    for s in &servers {
        let mut c = s.raw();
        c.write_all(req).unwrap();
        // Mark the end of the replies with a PING of our own.
        got.push(text(&send(&mut c, b"ECHO end\r\n", 5)));
    }
    assert_eq!(
        got[1],
        "+OK\r\n$1\r\n2\r\n$1\r\n3\r\n-ERR syntax error\r\n$3\r\nend\r\n"
    );
    assert_eq!(got[0], got[1]);
}

#[test]
fn client_reply_on_is_answered_in_a_later_write() {
    let servers = both(&[]);
    for (i, s) in servers.iter().enumerate() {
        let mut c = s.raw();
        c.write_all(b"CLIENT REPLY OFF\r\nPING\r\n").unwrap();
        assert!(
            stays_open(&mut c, Duration::from_millis(300)),
            "{}",
            name(i)
        );
        assert_eq!(
            text(&send(&mut c, b"CLIENT REPLY ON\r\nPING\r\n", 2)),
            "+OK\r\n+PONG\r\n",
            "{}",
            name(i)
        );
    }
}

#[test]
fn client_setname_getname_id() {
    compare_with_redis(
        &[],
        &[
            &["CLIENT", "GETNAME"],
            &["CLIENT", "SETNAME", "worker-1"],
            &["CLIENT", "GETNAME"],
            &["CLIENT", "SETNAME", "a b"],
            &["CLIENT", "SETNAME", "a\nb"],
            &["CLIENT", "GETNAME"],
            &["CLIENT", "SETNAME", ""],
            &["CLIENT", "GETNAME"],
        ],
    );
    let servers = both(&[]);
    for s in &servers {
        let mut c = s.raw();
        let a = text(&send(&mut c, b"CLIENT ID\r\n", 1));
        let b = text(&send(&mut c, b"CLIENT ID\r\n", 1));
        assert_eq!(a, b, "CLIENT ID is stable");
        let mut d = s.raw();
        let other = text(&send(&mut d, b"CLIENT ID\r\n", 1));
        assert!(a.starts_with(':') && other.starts_with(':'));
        assert_ne!(a, other, "ids are unique");
    }
}

#[test]
fn client_subcommand_arity_errors() {
    compare_with_redis(
        &[],
        &[
            &["CLIENT", "SETNAME"],
            &["CLIENT", "GETNAME", "x"],
            &["CLIENT", "ID", "x"],
            &["CLIENT", "KILL"],
            &["CLIENT", "REPLY"],
            &["CLIENT", "FOO"],
        ],
    );
}

/// The runs of a two-client test: redwing with the second client on the
/// first one's core and on the other core (the first on core 0), then
/// redis-server. Each run: the index into `both`, and the placement.
const TWO_CLIENT_RUNS: [(usize, Option<Placement>); 3] = [
    (0, Some(Placement::SameCore)),
    (0, Some(Placement::OtherCore)),
    (1, None),
];

/// A raw connection on `core` (redwing), or anywhere (redis-server: None).
fn raw_at(s: &Server, core: Option<usize>) -> TcpStream {
    match core {
        Some(core) => s.raw_on_core(core).into_stream(),
        None => s.raw(),
    }
}

/// The `key=value` fields of a CLIENT LIST/INFO line.
fn fields(line: &str) -> Vec<(String, String)> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn field(line: &str, key: &str) -> String {
    fields(line)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {key} in {line}"))
}

/// The body of a bulk reply.
fn bulk_body(b: &[u8]) -> String {
    let t = text(b);
    assert!(t.starts_with('$'), "not a bulk: {t}");
    let start = t.find("\r\n").unwrap() + 2;
    t[start..t.len() - 2].to_string()
}

#[test]
fn client_info_and_list() {
    let servers = both(&[]);
    let mut keys = Vec::new();
    for (i, p) in TWO_CLIENT_RUNS {
        let s = &servers[i];
        let mut a = raw_at(s, p.map(|_| 0));
        let mut b = raw_at(s, p.map(|p| p.core_for(0)));
        let aid = text(&send(
            &mut a,
            b"CLIENT SETNAME alpha\r\nSELECT 3\r\nCLIENT ID\r\n",
            3,
        ));
        let aid = aid.rsplit(':').next().unwrap().trim().to_string();
        let bid = text(&send(&mut b, b"CLIENT ID\r\n", 1))[1..]
            .trim()
            .to_string();
        let info = bulk_body(&send(&mut a, b"CLIENT INFO\r\n", 1));
        assert_eq!(info.matches('\n').count(), 1, "{}: one line", name(i));
        assert_eq!(field(&info, "id"), aid);
        assert_eq!(field(&info, "name"), "alpha");
        assert_eq!(field(&info, "db"), "3");
        assert_eq!(field(&info, "flags"), "N");
        assert_eq!(field(&info, "resp"), "2");
        assert_eq!(field(&info, "addr"), a.local_addr().unwrap().to_string());
        assert_eq!(field(&info, "laddr"), a.peer_addr().unwrap().to_string());
        keys.push(
            fields(&info)
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>(),
        );

        let list = bulk_body(&send(&mut a, b"CLIENT LIST\r\n", 1));
        let ids: Vec<String> = list.lines().map(|l| field(l, "id")).collect();
        assert!(
            ids.contains(&aid) && ids.contains(&bid),
            "{}: {list}",
            name(i)
        );
        let only = bulk_body(&send(
            &mut a,
            format!("CLIENT LIST ID {bid}\r\n").as_bytes(),
            1,
        ));
        assert_eq!(only.lines().count(), 1, "{}: {only}", name(i));
        assert_eq!(field(&only, "id"), bid);
        assert_eq!(
            field(&only, "addr"),
            b.local_addr().unwrap().to_string(),
            "{}",
            name(i)
        );
        let errs = text(&send(
            &mut a,
            b"CLIENT LIST ID x\r\nCLIENT LIST TYPE foo\r\nCLIENT LIST BAR\r\n",
            3,
        ));
        keys.push(vec![errs]);
    }
    // Redis 7.0's fields, in its order, come first (extra fields may
    // follow), in both redwing runs.
    for run in [0, 2] {
        assert!(
            keys[run].starts_with(&keys[4]),
            "{:?} vs {:?}",
            keys[run],
            keys[4]
        );
        assert_eq!(keys[run + 1], keys[5]);
    }
}

#[test]
fn client_info_names_the_subcommand() {
    let servers = both(&[]);
    let mut got = Vec::new();
    for s in &servers {
        let mut c = s.raw();
        let info = bulk_body(&send(&mut c, b"CLIENT INFO\r\n", 1));
        got.push(field(&info, "cmd"));
    }
    assert_eq!(got[0], got[1]);
}

#[test]
fn client_kill_by_id_addr_and_skipme() {
    let servers = both(&[]);
    for (i, p) in TWO_CLIENT_RUNS {
        let s = &servers[i];
        let who = format!("{} {p:?}", name(i));
        let mut me = raw_at(s, p.map(|_| 0));
        let victim_core = p.map(|p| p.core_for(0));
        let mut victim = raw_at(s, victim_core);
        let vid = text(&send(&mut victim, b"CLIENT ID\r\n", 1))[1..]
            .trim()
            .to_string();
        let got = send(&mut me, format!("CLIENT KILL ID {vid}\r\n").as_bytes(), 1);
        assert_eq!(text(&got), ":1\r\n", "{who}");
        assert!(
            read_to_close(&mut victim, TIMEOUT).1,
            "{who}: victim closed"
        );

        // Old form: CLIENT KILL ip:port.
        let mut victim = raw_at(s, victim_core);
        send(&mut victim, b"PING\r\n", 1);
        let addr = victim.local_addr().unwrap().to_string();
        let got = send(&mut me, format!("CLIENT KILL {addr}\r\n").as_bytes(), 1);
        assert_eq!(text(&got), "+OK\r\n", "{who}");
        assert!(read_to_close(&mut victim, TIMEOUT).1, "{who}");

        // New form with ADDR; SKIPME yes (the default) spares the caller.
        let mut victim = raw_at(s, victim_core);
        send(&mut victim, b"PING\r\n", 1);
        let addr = victim.local_addr().unwrap().to_string();
        let got = send(
            &mut me,
            format!("CLIENT KILL ADDR {addr} SKIPME yes\r\n").as_bytes(),
            1,
        );
        assert_eq!(text(&got), ":1\r\n", "{who}");
        assert!(read_to_close(&mut victim, TIMEOUT).1, "{who}");
        let my_addr = me.local_addr().unwrap().to_string();
        let got = send(
            &mut me,
            format!("CLIENT KILL ADDR {my_addr}\r\nCLIENT KILL ADDR {my_addr} SKIPME yes\r\n")
                .as_bytes(),
            2,
        );
        assert_eq!(text(&got), ":0\r\n:0\r\n", "{who}");

        let got = send(
            &mut me,
            b"CLIENT KILL ID 999999\r\nCLIENT KILL 1.2.3.4:5\r\nCLIENT KILL ID 0\r\n\
CLIENT KILL ID x\r\nCLIENT KILL FOO bar\r\nCLIENT KILL ADDR 1.2.3.4:5 SKIPME maybe\r\n",
            6,
        );
        assert_eq!(
            text(&got),
            ":0\r\n-ERR No such client\r\n-ERR client-id should be greater than 0\r\n\
-ERR client-id should be greater than 0\r\n-ERR syntax error\r\n-ERR syntax error\r\n",
            "{who}"
        );
        // The other clients were not touched.
        assert_eq!(send(&mut me, b"PING\r\n", 1), b"+PONG\r\n", "{who}");
    }
}

#[test]
fn client_kill_self_closes_after_the_reply() {
    let servers = both(&[]);
    let mut got = Vec::new();
    for s in &servers {
        let mut c = s.raw();
        let addr = c.local_addr().unwrap().to_string();
        c.write_all(format!("CLIENT KILL ADDR {addr} SKIPME no\r\nPING\r\n").as_bytes())
            .unwrap();
        let (out, closed) = read_to_close(&mut c, TIMEOUT);
        assert!(closed);
        got.push(text(&out));
    }
    assert_eq!(got[1], ":1\r\n");
    assert_eq!(got[0], got[1]);
}

#[test]
fn query_buffer_limit_closes_the_client() {
    let servers = both(&["--client-query-buffer-limit", "1mb"]);
    for (i, s) in servers.iter().enumerate() {
        let mut other = s.raw();
        assert_eq!(send(&mut other, b"PING\r\n", 1), b"+PONG\r\n");
        let mut c = s.raw();
        c.set_write_timeout(Some(TIMEOUT)).unwrap();
        // A 3 MB argument (allowed by proto-max-bulk-len) that never ends.
        let _ = c.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n");
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..40 {
            if c.write_all(&chunk).is_err() {
                break;
            }
        }
        let (got, closed) = read_to_close(&mut c, TIMEOUT);
        assert!(closed, "{}: client over the limit left open", name(i));
        assert!(got.is_empty(), "{}: {}", name(i), text(&got));
        assert_eq!(send(&mut other, b"PING\r\n", 1), b"+PONG\r\n");
    }
    assert!(
        servers[0].log_text().contains("max query buffer"),
        "{}",
        servers[0].log_text()
    );
}

#[test]
fn maxclients_refuses_the_extra_client() {
    let servers = both(&["--maxclients", "2"]);
    for (i, s) in servers.iter().enumerate() {
        let a = served(s);
        let mut b = served(s);
        let mut c = s.raw();
        let _ = c.write_all(b"PING\r\n");
        let (got, closed) = read_to_close(&mut c, TIMEOUT);
        assert!(closed, "{}", name(i));
        assert_eq!(
            text(&got),
            "-ERR max number of clients reached\r\n",
            "{}",
            name(i)
        );
        // Once a client leaves, a new one is served.
        drop(a);
        let _d = served(s);
        assert_eq!(send(&mut b, b"PING\r\n", 1), b"+PONG\r\n");
    }
}

#[test]
fn timeout_closes_idle_clients() {
    let servers = both(&["--timeout", "1"]);
    for (i, s) in servers.iter().enumerate() {
        let mut idle = s.raw();
        let mut busy = s.raw();
        assert_eq!(send(&mut idle, b"PING\r\n", 1), b"+PONG\r\n");
        let start = Instant::now();
        // The busy client talks every 200 ms and must stay connected.
        while start.elapsed() < Duration::from_millis(2500) {
            assert_eq!(
                send(&mut busy, b"PING\r\n", 1),
                b"+PONG\r\n",
                "{}: busy client dropped",
                name(i)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let (got, closed) = read_to_close(&mut idle, Duration::from_secs(5));
        assert!(closed, "{}: idle client still open", name(i));
        assert!(got.is_empty(), "{}", name(i));
        assert!(start.elapsed() < Duration::from_secs(7));
    }
}

#[test]
fn reply_framing_helper() {
    assert_eq!(reply_len(b"+OK\r\n"), Some(5));
    assert_eq!(reply_len(b"$3\r\nab"), None);
    assert_eq!(reply_len(b"*2\r\n$1\r\na\r\n:1\r\nxx"), Some(15));
    assert_eq!(reply_len(b"%1\r\n+a\r\n_\r\n"), Some(11));
    assert_eq!(reply_len(b"$-1\r\n"), Some(5));
}

/// RESET, CLIENT NO-EVICT: the same bytes as redis-server (the shared
/// comparison, RESP2 and RESP3). RESET puts a connection back as new: db
/// 0, no name, RESP2, out of MULTI, tracking off.
#[test]
fn reset_and_client_no_evict_match_redis() {
    compare_with_redis(
        &[],
        &[
            &["SET", "k", "v"],
            &["CLIENT", "SETNAME", "someone"],
            &["SELECT", "2"],
            &["CLIENT", "TRACKING", "on"],
            &["MULTI"],
            &["RESET"],
            &["CLIENT", "GETNAME"],
            &["GET", "k"],
            &["CLIENT", "TRACKINGINFO"],
            &["EXEC"],
            // (HELLO's reply holds the connection id, which differs; the
            // RESP3 run shows RESET going back to RESP2: GET's nil is $-1.)
            &["RESET"],
            &["GET", "nosuch"],
            &["RESET", "x"],
            &["CLIENT", "NO-EVICT", "on"],
            &["CLIENT", "NO-EVICT", "off"],
            &["CLIENT", "NO-EVICT", "maybe"],
            &["CLIENT", "NO-EVICT"],
        ],
    );
}

/// CLIENT SETINFO and CLIENT NO-TOUCH are Redis 7.2 commands Redwing has
/// (README, differences); the 7.0 oracle does not know them. Both asserted.
#[test]
fn client_setinfo_and_no_touch_as_redis_7_2() {
    let [resp2, _] = compare_with_redis(
        &[],
        &[
            &["CLIENT", "SETINFO", "lib-name", "mylib"],
            &["CLIENT", "SETINFO", "lib-ver", "1.2"],
            &["CLIENT", "NO-TOUCH", "on"],
        ],
    );
    for (i, sub) in ["SETINFO", "SETINFO", "NO-TOUCH"].iter().enumerate() {
        assert_eq!(resp2[i].0, b"+OK\r\n", "{sub}");
        let e = format!("-ERR unknown subcommand '{sub}'. Try CLIENT HELP.\r\n");
        assert_eq!(resp2[i].1, e.as_bytes(), "{sub}");
    }
    let s = Server::start(&[]);
    let mut c = RawClient::new(&s);
    assert_eq!(
        c.call(&["CLIENT", "SETINFO", "lib-name", "mylib"]),
        "+OK\r\n"
    );
    assert_eq!(c.call(&["CLIENT", "SETINFO", "lib-ver", "1.2"]), "+OK\r\n");
    let info = c.call(&["CLIENT", "INFO"]);
    assert!(info.contains(" lib-name=mylib lib-ver=1.2 "), "{info}");
    assert!(c
        .call(&["CLIENT", "SETINFO", "lib-name", "has space"])
        .starts_with("-ERR"));
    assert!(c
        .call(&["CLIENT", "SETINFO", "nosuch", "x"])
        .starts_with("-ERR"));
    // NO-TOUCH: reads by this client leave a key's idle time alone.
    assert_eq!(c.call(&["SET", "k", "v"]), "+OK\r\n");
    wait_for("idle time 1", TIMEOUT, || {
        c.call(&["OBJECT", "IDLETIME", "k"]) != ":0\r\n"
    });
    assert_eq!(c.call(&["CLIENT", "NO-TOUCH", "on"]), "+OK\r\n");
    assert_eq!(c.call(&["GET", "k"]), "$1\r\nv\r\n");
    assert_ne!(c.call(&["OBJECT", "IDLETIME", "k"]), ":0\r\n");
    // TOUCH still touches, as in Redis 7.2.
    assert_eq!(c.call(&["TOUCH", "k"]), ":1\r\n");
    assert_eq!(c.call(&["OBJECT", "IDLETIME", "k"]), ":0\r\n");
    wait_for("idle time 1 again", TIMEOUT, || {
        c.call(&["OBJECT", "IDLETIME", "k"]) != ":0\r\n"
    });
    assert_eq!(c.call(&["CLIENT", "NO-TOUCH", "off"]), "+OK\r\n");
    assert_eq!(c.call(&["GET", "k"]), "$1\r\nv\r\n");
    assert_eq!(c.call(&["OBJECT", "IDLETIME", "k"]), ":0\r\n");
}
