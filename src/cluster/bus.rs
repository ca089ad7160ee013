//! The cluster bus's sockets, on the control executor: the listener on
//! the cluster port, one outbound link per known node and the inbound
//! links peers open, each a reader task and a writer task fed by a
//! queue. Every decoded message and the 100 ms tick go to `gossip.rs`
//! under the state lock; the `Send`s it returns are carried out here.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::channels::local_channel::{self, LocalSender};
use glommio::net::{TcpListener, TcpStream};

use super::gossip::{now, Origin, Send};
use super::wire::{Body, FrameReader, Invalid, Message};
use super::NodeId;
use crate::config::{self, Opt};
use crate::runtime;

/// Message type names as CLUSTER INFO prints them, by type number.
pub const TYPE_NAMES: [&str; 11] = [
    "ping",
    "pong",
    "meet",
    "fail",
    "publish",
    "auth-req",
    "auth-ack",
    "update",
    "mfstart",
    "module",
    "publishshard",
];

/// Messages sent and received, by type.
pub static SENT: [AtomicU64; 11] = [const { AtomicU64::new(0) }; 11];
pub static RECEIVED: [AtomicU64; 11] = [const { AtomicU64::new(0) }; 11];

struct Link {
    inbound: bool,
    /// The peer (outbound: from the start; inbound: once it is known).
    node: Option<NodeId>,
    ctime: u64,
    tx: LocalSender<Vec<u8>>,
    /// Bytes queued and not yet written.
    queued: Rc<Cell<usize>>,
    peer_ip: String,
    local_ip: String,
}

thread_local! {
    static LINKS: RefCell<BTreeMap<u64, Link>> = const { RefCell::new(BTreeMap::new()) };
    static NEXT_LINK: Cell<u64> = const { Cell::new(1) };
}

/// One row of CLUSTER LINKS.
pub struct LinkRow {
    pub to: bool,
    pub node: Option<NodeId>,
    pub ctime: u64,
    pub queued: usize,
}

/// The links as CLUSTER LINKS shows them; runs on the control executor.
pub fn link_rows() -> Vec<LinkRow> {
    LINKS.with(|l| {
        l.borrow()
            .values()
            .filter(|l| l.node.is_some())
            .map(|l| LinkRow {
                to: !l.inbound,
                node: l.node,
                ctime: l.ctime,
                queued: l.queued.get(),
            })
            .collect()
    })
}

/// The bus: listens on `addrs` (the `bind` addresses at the cluster
/// port) and runs the cron. Runs on the control executor for the
/// server's lifetime.
pub async fn run(addrs: Vec<SocketAddr>) {
    for a in addrs {
        match TcpListener::bind(a) {
            Ok(l) => runtime::spawn(accept_loop(l)),
            // A node without its bus cannot join a cluster: exit as Redis.
            Err(e) => {
                tracing::warn!(
                    "Failed listening on port {} (cluster), aborting. ({e})",
                    a.port()
                );
                crate::lifecycle::exit(1);
            }
        }
    }
    let mut iteration = 0u64;
    loop {
        let out = super::with(|st| {
            let mut out = Vec::new();
            st.cron(iteration, &mut out);
            finish(st);
            out
        });
        carry_out(out, None);
        iteration += 1;
        runtime::sleep(Duration::from_millis(100)).await;
    }
}

/// Saves nodes.conf if a change asks for it.
fn finish(st: &mut super::State) {
    st.update_state();
    if std::mem::take(&mut st.todo_save) {
        if let Err(e) = st.save() {
            tracing::warn!("Fatal: can't update cluster config file: {e}");
        }
    }
}

async fn accept_loop(l: TcpListener) {
    loop {
        match l.accept().await {
            Ok(s) => {
                let peer = s.peer_addr().ok();
                let local = s.local_addr().ok();
                let id = new_link(true, None, peer, local);
                if let Some((id, rx)) = id {
                    runtime::spawn(serve(id, s, rx));
                }
            }
            Err(e) => {
                if crate::lifecycle::exiting() {
                    return;
                }
                tracing::warn!("Accepting cluster bus connection: {e}");
                runtime::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

type Queue = local_channel::LocalReceiver<Vec<u8>>;

/// Registers a link; its writer takes the queue's receiving end.
fn new_link(
    inbound: bool,
    node: Option<NodeId>,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
) -> Option<(u64, Queue)> {
    let (tx, rx) = local_channel::new_unbounded();
    let id = NEXT_LINK.with(|n| n.replace(n.get() + 1));
    let ip = |a: Option<SocketAddr>| a.map(|a| a.ip().to_string()).unwrap_or_default();
    LINKS.with(|l| {
        l.borrow_mut().insert(
            id,
            Link {
                inbound,
                node,
                ctime: now(),
                tx,
                queued: Rc::new(Cell::new(0)),
                peer_ip: ip(peer),
                local_ip: ip(local),
            },
        )
    });
    Some((id, rx))
}

/// Queues a message on a link.
/// Links closed because their queue passed `cluster-link-sendbuf-limit`
/// (CLUSTER INFO's total_cluster_links_buffer_limit_exceeded).
pub static LIMIT_EXCEEDED: AtomicU64 = AtomicU64::new(0);

fn send_on(link: u64, m: &Message) {
    let bytes = m.encode();
    let limit = config::num(Opt::ClusterLinkSendbufLimit) as usize;
    let over = LINKS.with(|l| {
        let links = l.borrow();
        let Some(l) = links.get(&link) else {
            return false;
        };
        l.queued.set(l.queued.get() + bytes.len());
        if l.tx.try_send(bytes).is_ok() {
            if let Some(c) = SENT.get(m.body.kind() as usize) {
                c.fetch_add(1, Relaxed);
            }
        }
        limit != 0 && l.queued.get() > limit
    });
    // A peer that does not read: its link goes, the cron opens a new one
    // (Redis's clusterNodeCronFreeLinkOnBufferLimitReached).
    if over {
        LIMIT_EXCEEDED.fetch_add(1, Relaxed);
        close(link);
    }
}

fn outbound(node: NodeId) -> Option<u64> {
    LINKS.with(|l| {
        l.borrow()
            .iter()
            .find(|(_, l)| !l.inbound && l.node == Some(node))
            .map(|(id, _)| *id)
    })
}

/// Forgets a link: its writer sees the queue end and shuts the socket,
/// which ends its reader. An outbound link's node shows disconnected.
fn close(link: u64) {
    let gone = LINKS.with(|l| l.borrow_mut().remove(&link));
    if let Some(Link {
        inbound: false,
        node: Some(id),
        ..
    }) = gone
    {
        super::with(|st| {
            if let Some(n) = st.get_mut(id) {
                n.connected = false;
            }
        });
    }
}

/// A PUBLISH reaches the subscribers of every node, a SPUBLISH those of
/// the nodes of myself's shard (Redis's clusterPropagatePublish).
pub fn propagate_publish(shard: bool, channel: &[u8], message: &[u8]) {
    let (channel, message) = (channel.to_vec(), message.to_vec());
    let mut out = Vec::new();
    super::with(|st| {
        let body = if shard {
            Body::PublishShard { channel, message }
        } else {
            Body::Publish { channel, message }
        };
        let m = Message {
            header: st.header(),
            body,
        };
        if shard {
            st.send_to_my_shard(&m, &mut out);
        } else {
            st.broadcast(&m, &mut out);
        }
    });
    send_later(out);
}

/// Carries out `Send`s decided elsewhere (a CLUSTER command on a shard
/// core) on the control executor, where the links are.
pub fn send_later(out: Vec<Send>) {
    if out.is_empty() {
        return;
    }
    runtime::spawn(send_now(out));
}

/// Carries out `out` on the control executor and returns when done.
pub async fn send_now(out: Vec<Send>) {
    let job: runtime::Job = Box::new(move || {
        carry_out(out, None);
        crate::protocol::Reply::Ok
    });
    runtime::run_on(runtime::control(), vec![job]).await;
}

fn carry_out(out: Vec<Send>, link: Option<u64>) {
    for s in out {
        match s {
            Send::Reply(m) => {
                if let Some(l) = link {
                    send_on(l, &m);
                }
            }
            Send::DropKeys(slots) => {
                for (slot, core) in slots {
                    runtime::spawn(async move {
                        runtime::call_on(core, move || super::drop_slot_keys(slot)).await;
                    });
                }
            }
            Send::Deliver {
                shard,
                channel,
                message,
            } => {
                use crate::commands::pubsub::{publish, Kind};
                let kind = if shard { Kind::Shard } else { Kind::Channel };
                runtime::spawn(async move {
                    publish(kind, channel.into(), message.into()).await;
                });
            }
            Send::To(id, m) => {
                if let Some(l) = outbound(id) {
                    send_on(l, &m);
                }
            }
            Send::Connect(id, ip, cport, first) => {
                // A link left from before (dropped and reopened in one tick) goes.
                if let Some(old) = outbound(id) {
                    LINKS.with(|l| l.borrow_mut().remove(&old));
                }
                if let Some((l, rx)) = new_link(false, Some(id), None, None) {
                    send_on(l, &first);
                    runtime::spawn(connect(l, ip, cport, rx));
                }
            }
            Send::Drop(id) => {
                if let Some(l) = outbound(id) {
                    LINKS.with(|links| links.borrow_mut().remove(&l));
                }
            }
            Send::CloseThis => {
                if let Some(l) = link {
                    LINKS.with(|links| links.borrow_mut().remove(&l));
                }
            }
            Send::Rename(old, new) => LINKS.with(|l| {
                for l in l.borrow_mut().values_mut() {
                    if !l.inbound && l.node == Some(old) {
                        l.node = Some(new);
                    }
                }
            }),
            Send::Replicate(ip, port) => {
                crate::replication::replica::start(ip, port, "cluster", true);
            }
            Send::StopReplication => {
                runtime::spawn(crate::replication::replica::stop("cluster failover"));
            }
            Send::Bind(id) => {
                if let Some(l) = link {
                    LINKS.with(|links| {
                        if let Some(l) = links.borrow_mut().get_mut(&l) {
                            l.node = Some(id);
                        }
                    });
                }
            }
        }
    }
}

/// Opens an outbound link, then serves it.
async fn connect(link: u64, ip: String, cport: u16, rx: Queue) {
    let timeout = Duration::from_millis((config::num(Opt::ClusterNodeTimeout) as u64).max(100));
    let addr = ip
        .parse::<std::net::IpAddr>()
        .map(|ip| SocketAddr::new(ip, cport));
    let stream = match addr {
        Ok(a) => TcpStream::connect_timeout(a, timeout)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match stream {
        Ok(s) => {
            let (peer, local) = (s.peer_addr().ok(), s.local_addr().ok());
            LINKS.with(|l| {
                if let Some(l) = l.borrow_mut().get_mut(&link) {
                    let ip =
                        |a: Option<SocketAddr>| a.map(|a| a.ip().to_string()).unwrap_or_default();
                    l.peer_ip = ip(peer);
                    l.local_ip = ip(local);
                }
            });
            serve(link, s, rx).await
        }
        Err(e) => {
            tracing::debug!("Connecting to the cluster bus of {ip}:{cport}: {e}");
            let node = LINKS.with(|l| l.borrow().get(&link).and_then(|l| l.node));
            close(link);
            // Failure detection needs a pending ping to time out.
            if let Some(id) = node {
                super::with(|st| {
                    if let Some(n) = st.get_mut(id) {
                        if n.ping_sent == 0 {
                            n.ping_sent = now();
                        }
                    }
                });
            }
        }
    }
}

/// Runs a connected link: a reader task and this writer.
async fn serve(link: u64, s: TcpStream, rx: Queue) {
    let _ = s.set_nodelay(true);
    let fd = std::os::fd::AsRawFd::as_raw_fd(&s);
    // SAFETY: dup gives a fresh descriptor that the writer stream owns.
    let wfd = unsafe { libc::dup(fd) };
    if wfd < 0 {
        close(link);
        return;
    }
    let mut wr = unsafe { <TcpStream as std::os::fd::FromRawFd>::from_raw_fd(wfd) };
    runtime::spawn(read_loop(link, s));
    let queued = LINKS.with(|l| l.borrow().get(&link).map(|l| l.queued.clone()));
    while let Some(buf) = rx.recv().await {
        if wr.write_all(&buf).await.is_err() {
            break;
        }
        if let Some(q) = &queued {
            q.set(q.get().saturating_sub(buf.len()));
        }
    }
    let _ = wr.shutdown(Shutdown::Both).await;
    close(link);
}

async fn read_loop(link: u64, mut rd: TcpStream) {
    let mut frames = FrameReader::default();
    let mut buf = vec![0u8; 16 * 1024];
    'read: loop {
        let n = match rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        frames.push(&buf[..n]);
        loop {
            match frames.next_frame() {
                Ok(Some(frame)) => match Message::decode(&frame) {
                    Ok(m) => handle(link, m),
                    Err(Invalid::Drop(why)) => tracing::debug!("Cluster bus packet dropped: {why}"),
                    Err(Invalid::CloseLink(_)) => break 'read,
                },
                Ok(None) => break,
                Err(_) => break 'read,
            }
            if LINKS.with(|l| !l.borrow().contains_key(&link)) {
                break 'read;
            }
        }
    }
    let _ = rd.shutdown(Shutdown::Both).await;
    close(link);
}

/// One message from a link.
fn handle(link: u64, m: Message) {
    let Some(origin) = LINKS.with(|l| {
        l.borrow().get(&link).map(|l| Origin {
            inbound: l.inbound,
            node: l.node,
            peer_ip: l.peer_ip.clone(),
            local_ip: l.local_ip.clone(),
        })
    }) else {
        return;
    };
    if let Some(c) = RECEIVED.get(m.body.kind() as usize) {
        c.fetch_add(1, Relaxed);
    }
    let out = super::with(|st| {
        let mut out = Vec::new();
        st.process(&origin, m, &mut out);
        finish(st);
        out
    });
    carry_out(out, Some(link));
}
