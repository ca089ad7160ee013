//! One benchmark client: a task that keeps `pipeline` requests in flight
//! (closed loop) or sends on a fixed schedule (open loop, --rate), over one
//! connection per server node it needs, and records each reply's latency.
//!
//! One task owns all its sockets: it writes what it generated, then waits
//! for the first socket with a reply (or the next send time), so a client
//! costs no cross-task wake-ups. glommio reads are readiness-based, so
//! dropping a pending read loses no data.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncWriteExt};
use glommio::net::TcpStream;

use crate::cluster::{self, SlotMap};
use crate::resp::{self, Kind};
use crate::stats::Interval;
use crate::workload::{Keys, Mix};

/// Connection settings every client uses.
pub struct Settings {
    pub mix: Mix,
    pub pipeline: usize,
    /// Time between two sends of one client in --rate mode.
    pub interval: Option<Duration>,
    pub deadline: Option<Duration>,
    /// AUTH and HELLO 3, sent first on every connection.
    pub handshake: Vec<Vec<u8>>,
    pub cluster: bool,
    pub host: String,
    pub timeout: Option<Duration>,
}

/// What the clients of one thread share.
pub struct Thread {
    pub settings: Settings,
    /// Requests this thread may still start (u64::MAX in --duration mode).
    pub budget: Cell<u64>,
    pub stats: RefCell<Interval>,
    pub slots: RefCell<SlotMap>,
    pub first_error: RefCell<Option<String>>,
    pub start: Cell<Instant>,
    /// Place in the command mix. Shared by the thread's clients so the mix
    /// is exact over the thread's requests, however they are spread.
    pub turn: Cell<u64>,
    /// Requests sent and not answered, over the thread's clients (for the
    /// stall watchdog).
    pub in_flight: Cell<usize>,
}

impl Thread {
    fn note_error(&self, text: &[u8]) {
        let mut e = self.first_error.borrow_mut();
        if e.is_none() {
            *e = Some(String::from_utf8_lossy(text).into_owned());
        }
    }
}

struct Pending {
    cmd: u16,
    /// Send time, or the intended send time in --rate mode.
    t0: Instant,
    /// The ASKING before a redirected request: its reply is not counted.
    asking: bool,
    /// The request, kept in cluster mode to follow MOVED/ASK.
    request: Option<Box<[u8]>>,
    hops: u8,
}

struct Node {
    stream: TcpStream,
    out: Vec<u8>,
    buf: Vec<u8>,
    /// Unread replies are buf[start..end].
    start: usize,
    end: usize,
    pending: VecDeque<Pending>,
}

const READ_BUF: usize = 64 * 1024;

impl Node {
    async fn connect(addr: &str, s: &Settings) -> Result<Node, String> {
        let connect = match s.timeout {
            Some(t) => TcpStream::connect_timeout(addr, t).await,
            None => TcpStream::connect(addr).await,
        };
        let stream = connect.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        stream.set_nodelay(true).ok();
        let mut node = Node {
            stream,
            out: Vec::with_capacity(4096),
            buf: vec![0; READ_BUF],
            start: 0,
            end: 0,
            pending: VecDeque::new(),
        };
        for cmd in &s.handshake {
            node.stream
                .write_all(cmd)
                .await
                .map_err(|e| format!("{addr}: {e}"))?;
            loop {
                if let Some(r) = resp::scan(&node.buf[node.start..node.end])? {
                    let range = node.start..node.start + r.len;
                    node.start += r.len;
                    if let Kind::Error(e) = r.kind {
                        let e = &node.buf[range][e.start..e.end];
                        return Err(format!("{addr}: {}", String::from_utf8_lossy(e)));
                    }
                    break;
                }
                if node.fill().await? == 0 {
                    return Err(format!("{addr}: connection closed during handshake"));
                }
            }
        }
        Ok(node)
    }

    /// Makes room at the end of the buffer: moves unread bytes to the front,
    /// grows when one reply is larger than the buffer.
    fn make_room(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
    }

    /// Encodes template `cmd` for `key` into the output and expects its reply.
    fn queue(&mut self, t: &Thread, cmd: usize, key: &[u8], t0: Instant) {
        let at = self.out.len();
        t.settings.mix.templates[cmd].encode(key, &mut self.out);
        let request = t.settings.cluster.then(|| self.out[at..].into());
        self.pending.push_back(Pending {
            cmd: cmd as u16,
            t0,
            asking: false,
            request,
            hops: 0,
        });
    }

    async fn fill(&mut self) -> Result<usize, String> {
        self.make_room();
        let n = poll_fn(|cx| Pin::new(&mut self.stream).poll_read(cx, &mut self.buf[self.end..]))
            .await
            .map_err(|e| e.to_string())?;
        self.end += n;
        Ok(n)
    }
}

/// A ticket to start one more request, if the run is not over.
fn ticket(t: &Thread, due: Instant) -> bool {
    let b = t.budget.get();
    if b == 0 {
        return false;
    }
    if let Some(d) = t.settings.deadline {
        if due.duration_since(t.start.get()) >= d {
            return false;
        }
    }
    if b != u64::MAX {
        t.budget.set(b - 1);
    }
    true
}

pub struct Client {
    thread: Rc<Thread>,
    keys: Keys,
    nodes: Vec<Option<Node>>,
    in_flight: usize,
}

impl Client {
    /// Connects to every node of the slot map (one in single-server mode).
    pub async fn connect(thread: Rc<Thread>, keys: Keys) -> Result<Client, String> {
        let addrs = thread.slots.borrow().nodes.clone();
        let mut nodes = Vec::new();
        for a in &addrs {
            nodes.push(Some(Node::connect(a, &thread.settings).await?));
        }
        Ok(Client {
            thread,
            keys,
            nodes,
            in_flight: 0,
        })
    }

    async fn node(&mut self, idx: usize) -> Result<&mut Node, String> {
        if self.nodes.len() <= idx {
            self.nodes.resize_with(idx + 1, || None);
        }
        if self.nodes[idx].is_none() {
            let addr = self.thread.slots.borrow().nodes[idx].clone();
            self.nodes[idx] = Some(Node::connect(&addr, &self.thread.settings).await?);
        }
        Ok(self.nodes[idx].as_mut().unwrap())
    }

    /// Generates one request with latency clock `t0`.
    async fn send_one(&mut self, t0: Instant) -> Result<(), String> {
        let t = &*self.thread;
        let mix = &t.settings.mix;
        let cmd = mix.pick(t.turn.get());
        t.turn.set(t.turn.get() + 1);
        let key = self.keys.next_key();
        let idx = if mix.templates[cmd].has_key {
            t.slots.borrow().route(key)
        } else {
            0
        };
        self.in_flight += 1;
        t.in_flight.set(t.in_flight.get() + 1);
        match self.nodes.get_mut(idx) {
            Some(Some(node)) => node.queue(t, cmd, key, t0),
            _ => {
                // First request for a node met through a redirection.
                let key = key.to_vec();
                let t = self.thread.clone();
                self.node(idx).await?.queue(&t, cmd, &key, t0);
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), String> {
        for n in self.nodes.iter_mut().flatten() {
            if !n.out.is_empty() {
                n.stream
                    .write_all(&n.out)
                    .await
                    .map_err(|e| format!("write: {e}"))?;
                n.out.clear();
            }
        }
        Ok(())
    }

    /// Waits until some node with requests in flight has read more bytes;
    /// gives up at `until` (if any) and returns None.
    async fn read_any(&mut self, until: Option<Instant>) -> Result<Option<usize>, String> {
        let mut timer = until.map(|u| {
            Box::pin(glommio::timer::sleep(
                u.saturating_duration_since(Instant::now()),
            ))
        });
        for n in self.nodes.iter_mut().flatten() {
            n.make_room();
        }
        let nodes = &mut self.nodes;
        poll_fn(|cx| {
            for (i, n) in nodes.iter_mut().enumerate() {
                let Some(n) = n else { continue };
                if n.pending.is_empty() {
                    continue;
                }
                match Pin::new(&mut n.stream).poll_read(cx, &mut n.buf[n.end..]) {
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Err("server closed the connection".to_string()))
                    }
                    Poll::Ready(Ok(k)) => {
                        n.end += k;
                        return Poll::Ready(Ok(Some(i)));
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(format!("read: {e}"))),
                    Poll::Pending => {}
                }
            }
            if let Some(t) = timer.as_mut() {
                if t.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Ok(None));
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Counts the complete replies node `i` has; returns the redirected
    /// requests to send again, with their target node.
    fn replies(&mut self, i: usize, now: Instant) -> Result<Vec<(usize, Pending)>, String> {
        let t = &*self.thread;
        let n = self.nodes[i].as_mut().unwrap();
        let mut stats = t.stats.borrow_mut();
        let mut redirects = Vec::new();
        while let Some(r) = resp::scan(&n.buf[n.start..n.end])? {
            let reply = n.start..n.start + r.len;
            n.start += r.len;
            let err = match r.kind {
                Kind::Push => continue,
                Kind::Value => None,
                Kind::Error(e) => Some(reply.start + e.start..reply.start + e.end),
            };
            let Some(mut p) = n.pending.pop_front() else {
                return Err("a reply nobody asked for".into());
            };
            if p.asking {
                continue;
            }
            if let Some(e) = &err {
                let text = &n.buf[e.clone()];
                if let (Some(rd), true) = (cluster::redirect(text), p.request.is_some()) {
                    if p.hops < 5 {
                        let mut slots = t.slots.borrow_mut();
                        let addr = match rd.addr.strip_prefix(':') {
                            Some(port) => format!("{}:{port}", t.settings.host),
                            None => rd.addr,
                        };
                        let node = slots.node_index(&addr);
                        if !rd.ask {
                            slots.moved(rd.slot, node);
                        }
                        p.hops += 1;
                        p.asking = rd.ask;
                        stats.redirects += 1;
                        redirects.push((node, p));
                        continue;
                    }
                }
                t.note_error(text);
            }
            self.in_flight -= 1;
            t.in_flight.set(t.in_flight.get() - 1);
            let us = now.saturating_duration_since(p.t0).as_micros() as u64;
            stats.record(p.cmd as usize, us, err.is_some());
        }
        Ok(redirects)
    }

    /// Sends redirected requests to their new node (after ASKING for ASK).
    async fn follow(&mut self, redirects: Vec<(usize, Pending)>) -> Result<(), String> {
        for (idx, mut p) in redirects {
            let node = self.node(idx).await?;
            if p.asking {
                node.out.extend_from_slice(b"*1\r\n$6\r\nASKING\r\n");
                node.pending.push_back(Pending {
                    cmd: p.cmd,
                    t0: p.t0,
                    asking: true,
                    request: None,
                    hops: 0,
                });
                p.asking = false;
            }
            node.out
                .extend_from_slice(p.request.as_deref().unwrap_or_default());
            node.pending.push_back(p);
        }
        Ok(())
    }

    /// Reads what node `i` has and handles its replies.
    async fn settle(&mut self, i: usize) -> Result<(), String> {
        let redirects = self.replies(i, Instant::now())?;
        if !redirects.is_empty() {
            self.follow(redirects).await?;
        }
        Ok(())
    }

    /// Closed loop: keep `pipeline` requests in flight until the budget or
    /// the time is spent.
    pub async fn run_closed(mut self) -> Result<(), String> {
        let pipeline = self.thread.settings.pipeline;
        let mut more = true;
        loop {
            let now = Instant::now();
            while more && self.in_flight < pipeline {
                more = ticket(&self.thread, now);
                if more {
                    self.send_one(now).await?;
                }
            }
            if self.in_flight == 0 {
                return Ok(());
            }
            self.flush().await?;
            if let Some(i) = self.read_any(None).await? {
                self.settle(i).await?;
            }
        }
    }

    /// Open loop: request k is due at `first + k * interval`; it is sent
    /// then if the pipeline has room, later if not, and its latency counts
    /// from when it was due.
    pub async fn run_open(mut self, first: Instant) -> Result<(), String> {
        let pipeline = self.thread.settings.pipeline;
        let interval = self.thread.settings.interval.expect("rate mode");
        let mut due = first;
        let mut more = true;
        loop {
            let now = Instant::now();
            while more && due <= now && self.in_flight < pipeline {
                more = ticket(&self.thread, due);
                if more {
                    self.send_one(due).await?;
                    due += interval;
                }
            }
            if !more && self.in_flight == 0 {
                return Ok(());
            }
            self.flush().await?;
            let wake = (more && self.in_flight < pipeline).then_some(due);
            if self.in_flight == 0 {
                glommio::timer::sleep(due.saturating_duration_since(Instant::now())).await;
            } else if let Some(i) = self.read_any(wake).await? {
                self.settle(i).await?;
            }
        }
    }
}
