//! The node table's rows: one known node of the cluster, and its line in
//! CLUSTER NODES / nodes.conf (Redis's `clusterGenNodeDescription`).

use std::fmt;

/// A node name: 40 lowercase hex characters.
#[derive(Clone, Copy, Eq, PartialOrd, Ord)]
pub struct NodeId([u8; 40]);

/// By the bytes, as equality compares them.
impl std::hash::Hash for NodeId {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.0.hash(h)
    }
}

/// Five word compares, inlined: the slot table (16384 `Option<NodeId>`)
/// is scanned by equality, where a derived compare calls memcmp per slot
/// (80% of a CLUSTER SETSLOT's time).
impl PartialEq for NodeId {
    #[inline]
    fn eq(&self, other: &NodeId) -> bool {
        let word = |b: &[u8; 40], i: usize| {
            u64::from_ne_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
        };
        (0..5).all(|i| word(&self.0, i) == word(&other.0, i))
    }
}

impl NodeId {
    /// A fresh random name (Redis's `getRandomHexChars`).
    pub fn random() -> NodeId {
        use rand::Rng;
        let mut rng = rand::thread_rng();
        let mut id = [0u8; 40];
        for b in &mut id {
            *b = b"0123456789abcdef"[rng.gen_range(0..16)];
        }
        NodeId(id)
    }

    /// Parses a name as stored or typed; any 40 bytes are kept as given,
    /// so a lookup of another spelling simply finds nothing.
    pub fn parse(s: &[u8]) -> Option<NodeId> {
        s.try_into().ok().map(NodeId)
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The 40 bytes as the bus carries them.
    pub fn bytes(&self) -> &[u8; 40] {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Node flags, with Redis's bit values (the bus carries them as is).
pub mod flag {
    pub const MASTER: u16 = 1;
    pub const SLAVE: u16 = 2;
    pub const PFAIL: u16 = 4;
    pub const FAIL: u16 = 8;
    pub const MYSELF: u16 = 16;
    pub const HANDSHAKE: u16 = 32;
    pub const NOADDR: u16 = 64;
    pub const MEET: u16 = 128;
    pub const MIGRATE_TO: u16 = 256;
    pub const NOFAILOVER: u16 = 512;

    /// Names in the order CLUSTER NODES lists them.
    pub const NAMES: [(u16, &str); 8] = [
        (MYSELF, "myself"),
        (MASTER, "master"),
        (SLAVE, "slave"),
        (PFAIL, "fail?"),
        (FAIL, "fail"),
        (HANDSHAKE, "handshake"),
        (NOADDR, "noaddr"),
        (NOFAILOVER, "nofailover"),
    ];
}

/// One node as this node knows it. The bus fills in the other nodes.
#[derive(Clone, Debug)]
pub struct Node {
    pub id: NodeId,
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    pub hostname: String,
    pub flags: u16,
    /// The master of a replica.
    pub master: Option<NodeId>,
    /// Unix ms of the last PING sent and PONG received (0: none pending / never).
    pub ping_sent: u64,
    pub pong_received: u64,
    pub config_epoch: u64,
    /// Whether the bus link to it is up (always true for myself).
    pub connected: bool,
    pub repl_offset: u64,
    /// Unix ms: when this entry was made (a handshake expires from it),
    /// and when the bus last received anything from the node.
    pub ctime: u64,
    pub data_received: u64,
    /// Unix ms the node was marked FAIL.
    pub fail_time: u64,
    /// Masters that gossiped this node as failing, with the time of each report.
    pub fail_reports: Vec<(NodeId, u64)>,
    /// Unix ms the outbound link was opened (`connected` says it exists).
    pub link_ctime: u64,
    /// Unix ms myself last voted for a replica of this master.
    pub voted_time: u64,
    /// Unix ms since which this master has been orphaned (0: it is not),
    /// as a replica considering migration sees it.
    pub orphaned_since: u64,
}

impl Node {
    pub fn new(id: NodeId, flags: u16) -> Node {
        Node {
            id,
            ip: String::new(),
            port: 0,
            cport: 0,
            hostname: String::new(),
            flags,
            master: None,
            ping_sent: 0,
            pong_received: 0,
            config_epoch: 0,
            connected: flags & flag::MYSELF != 0,
            repl_offset: 0,
            ctime: crate::storage::now_ms() as u64,
            data_received: 0,
            fail_time: 0,
            fail_reports: Vec::new(),
            link_ctime: 0,
            voted_time: 0,
            orphaned_since: 0,
        }
    }

    pub fn is(&self, f: u16) -> bool {
        self.flags & f != 0
    }

    /// The flags column: "myself,master", or "noflags".
    pub fn flag_names(&self) -> String {
        let names: Vec<&str> = flag::NAMES
            .iter()
            .filter(|(f, _)| self.is(*f))
            .map(|(_, n)| *n)
            .collect();
        if names.is_empty() {
            "noflags".to_string()
        } else {
            names.join(",")
        }
    }

    /// `ip:port@cport[,hostname]`
    pub fn address(&self) -> String {
        let mut s = format!("{}:{}@{}", self.ip, self.port, self.cport);
        if !self.hostname.is_empty() {
            s.push(',');
            s.push_str(&self.hostname);
        }
        s
    }

    /// The line up to the slots: id, address, flags, master, ping, pong,
    /// epoch (`epoch` is the master's for a replica) and link state.
    pub fn head(&self, epoch: u64) -> String {
        format!(
            "{} {} {} {} {} {} {} {}",
            self.id,
            self.address(),
            self.flag_names(),
            self.master.map_or("-".to_string(), |m| m.to_string()),
            self.ping_sent,
            self.pong_received,
            epoch,
            if self.connected {
                "connected"
            } else {
                "disconnected"
            }
        )
    }
}

/// Slot numbers as CLUSTER NODES writes them: `n` or `a-b`, in order.
pub fn ranges(slots: impl Iterator<Item = usize>) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for s in slots {
        match out.last_mut() {
            Some(r) if r.1 + 1 == s => r.1 = s,
            _ => out.push((s, s)),
        }
    }
    out
}

/// Parses a node line (nodes.conf); slots and open-slot markers are left
/// to the caller, as `rest`. Ping and pong are kept as given.
pub fn parse_line(line: &str) -> Option<(Node, Vec<String>)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 8 {
        return None;
    }
    let mut n = Node::new(NodeId::parse(f[0].as_bytes())?, 0);
    let (addr, hostname) = match f[1].split_once(',') {
        Some((a, h)) => (a, h),
        None => (f[1], ""),
    };
    n.hostname = hostname.to_string();
    let (ip, ports) = addr.rsplit_once(':')?;
    n.ip = ip.to_string();
    let (port, cport) = match ports.split_once('@') {
        Some((p, c)) => (p.parse().ok()?, c.parse().ok()?),
        None => {
            let p: u16 = ports.parse().ok()?;
            (p, p.wrapping_add(10000))
        }
    };
    (n.port, n.cport) = (port, cport);
    for name in f[2].split(',') {
        match flag::NAMES.iter().find(|(_, s)| *s == name) {
            Some((bit, _)) => n.flags |= bit,
            None if name == "noflags" => {}
            None => return None,
        }
    }
    if f[3] != "-" {
        n.master = Some(NodeId::parse(f[3].as_bytes())?);
    }
    n.ping_sent = f[4].parse().ok()?;
    n.pong_received = f[5].parse().ok()?;
    n.config_epoch = f[6].parse().ok()?;
    n.connected = f[7] == "connected";
    Some((n, f[8..].iter().map(|s| s.to_string()).collect()))
}
