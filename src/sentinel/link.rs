//! Sentinel's outgoing connections to masters, replicas and other
//! sentinels (Redis's instanceLink): a "cmd" link that pipelines commands
//! and matches replies in order, and for data nodes a "pubsub" link
//! subscribed to `__sentinel__:hello`.
//!
//! Commands are tiny, so they are written with a non-blocking `send` on
//! the socket straight from the timer (a full socket buffer counts as a
//! broken link); one reader task per link parses the replies and hands
//! each, with what it answers, to the monitor (`monitor::on_reply`).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures_lite::AsyncReadExt;
use glommio::net::TcpStream;

/// A RESP2 reply as a client reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Resp {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Resp>>),
}

impl Resp {
    pub fn text(&self) -> Option<String> {
        match self {
            Resp::Status(s) => Some(s.clone()),
            Resp::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

/// A reply that is not RESP: the link is dropped.
#[derive(Debug, PartialEq)]
pub struct Malformed;

/// Parses one reply from the front of `buf`: `Some((reply, used))`, or
/// None while it is incomplete.
pub fn parse(buf: &[u8]) -> Result<Option<(Resp, usize)>, Malformed> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        return Ok(None);
    };
    if nl == 0 || buf[nl - 1] != b'\r' {
        return Err(Malformed);
    }
    let line = std::str::from_utf8(&buf[1..nl - 1]).map_err(|_| Malformed)?;
    let after = nl + 1;
    let num = || line.parse::<i64>().map_err(|_| Malformed);
    Ok(Some(match buf[0] {
        b'+' => (Resp::Status(line.to_string()), after),
        b'-' => (Resp::Error(line.to_string()), after),
        b':' => (Resp::Int(num()?), after),
        b'$' => {
            let n = num()?;
            if n < 0 {
                return Ok(Some((Resp::Bulk(None), after)));
            }
            let end = after + n as usize;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            (Resp::Bulk(Some(buf[after..end].to_vec())), end + 2)
        }
        b'*' => {
            let n = num()?;
            if n < 0 {
                return Ok(Some((Resp::Array(None), after)));
            }
            let mut items = Vec::with_capacity(n.min(1024) as usize);
            let mut at = after;
            for _ in 0..n {
                match parse(&buf[at..])? {
                    Some((r, used)) => {
                        items.push(r);
                        at += used;
                    }
                    None => return Ok(None),
                }
            }
            (Resp::Array(Some(items)), at)
        }
        _ => return Err(Malformed),
    }))
}

/// A command in RESP.
pub fn command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A master's `rename-command`s: the names the master and its replicas
/// (and, as in Redis, the sentinels watching it) know our commands by.
#[derive(Debug, Clone, Default)]
pub struct Renames(std::collections::BTreeMap<String, (String, String)>);

impl Renames {
    /// Adds `old` → `new`; false if `old` is renamed already.
    pub fn add(&mut self, old: &str, new: &str) -> bool {
        let key = old.to_ascii_lowercase();
        if self.0.contains_key(&key) {
            return false;
        }
        self.0.insert(key, (old.to_string(), new.to_string()));
        true
    }

    /// (old, new) pairs, for the config file.
    pub fn pairs(&self) -> impl Iterator<Item = &(String, String)> {
        self.0.values()
    }

    /// `args` in RESP, the command name as the servers know it.
    pub fn cmd(&self, args: &[&str]) -> Vec<u8> {
        let mut v = args.to_vec();
        if let Some((_, new)) = self.0.get(&args[0].to_ascii_lowercase()) {
            v[0] = new;
        }
        command(&v)
    }
}

/// What a sent command was, so its reply can be understood.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Asked {
    Ping,
    Info,
    /// A reply nobody looks at (AUTH, CLIENT SETNAME, PUBLISH, the
    /// reconfiguration transaction ...).
    Ignore,
    /// SENTINEL IS-MASTER-DOWN-BY-ADDR to a peer.
    MasterDown,
}

/// One connection of an instance.
pub struct Link {
    fd: i32,
    pub pending: RefCell<VecDeque<Asked>>,
    pub closed: Cell<bool>,
    /// The local address of the socket (the hello's ip when no
    /// announce-ip is set).
    pub local_ip: String,
}

impl Link {
    /// Writes `bytes` now; false (and the link closed) if the socket does
    /// not take them whole.
    pub fn send(&self, bytes: &[u8], asked: &[Asked]) -> bool {
        if self.closed.get() {
            return false;
        }
        // SAFETY: fd is the link's open socket; MSG_DONTWAIT never blocks.
        let n = unsafe {
            libc::send(
                self.fd,
                bytes.as_ptr() as *const libc::c_void,
                bytes.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if n != bytes.len() as isize {
            self.close();
            return false;
        }
        self.pending.borrow_mut().extend(asked.iter().copied());
        true
    }

    /// Ends the link: the reader task sees the socket shut and stops.
    pub fn close(&self) {
        if !self.closed.replace(true) {
            // SAFETY: shutting down our own socket; the reader owns the fd.
            unsafe { libc::shutdown(self.fd, libc::SHUT_RDWR) };
        }
    }
}

/// Connects to `ip:port` (an IP: `addr.rs` resolves hostnames; 1 s at
/// most) and starts the reader: every reply goes to `on_reply(asked,
/// reply)` (asked is None for a push on a pubsub link); `on_close` runs
/// once when the link ends.
pub async fn connect(
    ip: &str,
    port: u16,
    on_reply: impl Fn(Option<Asked>, Resp) + 'static,
    on_close: impl FnOnce() + 'static,
) -> Result<Rc<Link>, String> {
    let ip: std::net::IpAddr = ip.parse().map_err(|_| format!("not an IP: '{ip}'"))?;
    let sock = std::net::SocketAddr::new(ip, port);
    let stream = TcpStream::connect_timeout(sock, Duration::from_secs(1))
        .await
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let local_ip = stream
        .local_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let link = Rc::new(Link {
        fd: stream.as_raw_fd(),
        pending: RefCell::new(VecDeque::new()),
        closed: Cell::new(false),
        local_ip,
    });
    let l = link.clone();
    crate::runtime::spawn(async move {
        read_replies(stream, &l, on_reply).await;
        l.closed.set(true);
        on_close();
    });
    Ok(link)
}

async fn read_replies(mut stream: TcpStream, link: &Link, on_reply: impl Fn(Option<Asked>, Resp)) {
    let mut buf = BytesMut::with_capacity(4096);
    let mut chunk = vec![0u8; 16384];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if link.closed.get() {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        loop {
            match parse(&buf) {
                Ok(Some((r, used))) => {
                    buf.advance(used);
                    let asked = link.pending.borrow_mut().pop_front();
                    on_reply(asked, r);
                }
                Ok(None) => break,
                Err(Malformed) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_replies() {
        let b = b"*3\r\n:1\r\n$1\r\n*\r\n:0\r\n+PONG\r\n";
        let (r, used) = parse(b).unwrap().unwrap();
        assert_eq!(
            r,
            Resp::Array(Some(vec![
                Resp::Int(1),
                Resp::Bulk(Some(b"*".to_vec())),
                Resp::Int(0)
            ]))
        );
        let (r, _) = parse(&b[used..]).unwrap().unwrap();
        assert_eq!(r, Resp::Status("PONG".into()));
        assert_eq!(parse(b"$5\r\nab").unwrap(), None);
    }
}
