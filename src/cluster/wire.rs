//! The Redis 7.0 cluster bus, byte for byte: the message header
//! (`clusterMsg`), the body of each message type, encoding, decoding with
//! Redis's validation (clusterReadHandler and clusterProcessPacket), and an
//! incremental frame reader. Only the codec: what a node does with a
//! message is elsewhere.
//!
//! Every integer is big-endian (Redis's htons/htonl/htonu64), except a
//! module message's id, which Redis copies raw (little-endian on the
//! machines it runs on).

/// Every message starts with it.
pub const SIG: &[u8; 4] = b"RCmb";
/// `CLUSTER_PROTO_VER`.
pub const VERSION: u16 = 1;
/// The header: `CLUSTERMSG_MIN_LEN`; shorter frames close the link.
pub const HEADER_LEN: usize = 2256;
/// `sizeof(clusterMsg)`: the header and the largest body (UPDATE's).
pub const MAX_FIXED_LEN: usize = 4352;
/// One gossip entry (`clusterMsgDataGossip`).
pub const GOSSIP_LEN: usize = 104;
pub const NODE_ID_LEN: usize = 40;
/// `NET_IP_STR_LEN`.
pub const IP_LEN: usize = 46;
pub const SLOTS: usize = 16384;
const SLOT_BYTES: usize = SLOTS / 8;

/// Header field offsets (static_asserted in Redis's cluster.h).
mod off {
    pub const TOTLEN: usize = 4;
    pub const VER: usize = 8;
    pub const PORT: usize = 10;
    pub const TYPE: usize = 12;
    pub const COUNT: usize = 14;
    pub const CURRENT_EPOCH: usize = 16;
    pub const CONFIG_EPOCH: usize = 24;
    pub const OFFSET: usize = 32;
    pub const SENDER: usize = 40;
    pub const MYSLOTS: usize = 80;
    pub const SLAVEOF: usize = 2128;
    pub const MYIP: usize = 2168;
    pub const EXTENSIONS: usize = 2214;
    pub const PPORT: usize = 2246;
    pub const CPORT: usize = 2248;
    pub const FLAGS: usize = 2250;
    pub const STATE: usize = 2252;
    pub const MFLAGS: usize = 2253;
    pub const DATA: usize = 2256;
}

/// Message types (`CLUSTERMSG_TYPE_*`).
pub mod kind {
    pub const PING: u16 = 0;
    pub const PONG: u16 = 1;
    pub const MEET: u16 = 2;
    pub const FAIL: u16 = 3;
    pub const PUBLISH: u16 = 4;
    pub const FAILOVER_AUTH_REQUEST: u16 = 5;
    pub const FAILOVER_AUTH_ACK: u16 = 6;
    pub const UPDATE: u16 = 7;
    pub const MFSTART: u16 = 8;
    pub const MODULE: u16 = 9;
    pub const PUBLISHSHARD: u16 = 10;
}

/// Node flags (`CLUSTER_NODE_*`), in the header and in gossip entries:
/// the node table's own.
pub use super::nodes::flag as node;

/// `mflags[0]` bits.
pub mod mflag {
    /// A master paused for a manual failover.
    pub const PAUSED: u8 = 1;
    /// Vote even though the master is not failing (manual failover).
    pub const FORCEACK: u8 = 2;
    /// Ping extensions follow the gossip section.
    pub const EXT_DATA: u8 = 4;
}

/// The only ping extension of Redis 7.0: the sender's hostname.
const EXT_HOSTNAME: u16 = 0;
/// An extension's own header: length u32, type u16, unused u16.
const EXT_HEADER_LEN: usize = 8;

pub type NodeId = [u8; NODE_ID_LEN];

/// Whether `id` is a node name Redis accepts: 40 characters of `[a-z0-9]`
/// (verifyClusterNodeId; upper case is refused).
pub fn valid_node_id(id: &[u8]) -> bool {
    id.len() == NODE_ID_LEN
        && id
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// A slot bitmap: slot `s` is bit `s & 7` of byte `s / 8`.
#[derive(Clone, PartialEq, Eq)]
pub struct Slots(pub Box<[u8; SLOT_BYTES]>);

impl Default for Slots {
    fn default() -> Self {
        Slots(Box::new([0; SLOT_BYTES]))
    }
}

impl std::fmt::Debug for Slots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Slots({} set)", self.iter().count())
    }
}

impl Slots {
    pub fn get(&self, slot: usize) -> bool {
        self.0[slot / 8] & (1 << (slot & 7)) != 0
    }

    pub fn set(&mut self, slot: usize, on: bool) {
        let bit = 1 << (slot & 7);
        if on {
            self.0[slot / 8] |= bit;
        } else {
            self.0[slot / 8] &= !bit;
        }
    }

    /// The slots that are set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..SLOTS).filter(|&s| self.get(s))
    }

    fn read(b: &[u8]) -> Slots {
        let mut s = Slots::default();
        s.0.copy_from_slice(&b[..SLOT_BYTES]);
        s
    }
}

/// The header fields a sender chooses; type, count, totlen and the
/// extension count follow from the body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// Client port (the TLS one with tls-cluster).
    pub port: u16,
    pub current_epoch: u64,
    /// A replica sends its master's.
    pub config_epoch: u64,
    /// Replication offset.
    pub offset: u64,
    pub sender: NodeId0,
    /// A replica sends its master's slots.
    pub myslots: Slots,
    /// None for a master (all zero bytes on the wire).
    pub slaveof: Option<NodeId>,
    /// Empty: the receiver uses the address it sees.
    pub myip: String,
    /// Plaintext port with tls-cluster, else 0.
    pub pport: u16,
    /// Cluster bus port.
    pub cport: u16,
    /// `node::*`, the sender's own flags with MYSELF.
    pub flags: u16,
    /// 0 ok, 1 fail.
    pub state: u8,
    /// `mflag::*` in byte 0; EXT_DATA is set by `encode` when a hostname
    /// extension is written.
    pub mflags: [u8; 3],
}

/// A node id that defaults to zeros (headers are built field by field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeId0(pub NodeId);

impl Default for NodeId0 {
    fn default() -> Self {
        NodeId0([0; NODE_ID_LEN])
    }
}

/// One gossip entry: what the sender knows of another node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gossip {
    pub nodename: NodeId,
    /// Seconds (unix time of the last ping sent / pong received).
    pub ping_sent: u32,
    pub pong_received: u32,
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    pub flags: u16,
    pub pport: u16,
}

/// PING, PONG and MEET: gossip, then the ping extensions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ping {
    pub gossip: Vec<Gossip>,
    /// The hostname extension; None sends none (the receiver then clears
    /// the sender's hostname).
    pub hostname: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Ping(Ping),
    Pong(Ping),
    Meet(Ping),
    /// The node named is failing.
    Fail {
        nodename: NodeId,
    },
    Publish {
        channel: Vec<u8>,
        message: Vec<u8>,
    },
    PublishShard {
        channel: Vec<u8>,
        message: Vec<u8>,
    },
    FailoverAuthRequest,
    FailoverAuthAck,
    /// Asks a master to start a manual failover.
    MfStart,
    /// The node named owns `slots` at `config_epoch`.
    Update {
        config_epoch: u64,
        nodename: NodeId,
        slots: Slots,
    },
    Module {
        module_id: u64,
        module_type: u8,
        payload: Vec<u8>,
    },
    /// A type Redis 7.0 does not know (11 and up): accepted at any length,
    /// ignored.
    Other {
        kind: u16,
        data: Vec<u8>,
    },
}

impl Body {
    pub fn kind(&self) -> u16 {
        match self {
            Body::Ping(_) => kind::PING,
            Body::Pong(_) => kind::PONG,
            Body::Meet(_) => kind::MEET,
            Body::Fail { .. } => kind::FAIL,
            Body::Publish { .. } => kind::PUBLISH,
            Body::PublishShard { .. } => kind::PUBLISHSHARD,
            Body::FailoverAuthRequest => kind::FAILOVER_AUTH_REQUEST,
            Body::FailoverAuthAck => kind::FAILOVER_AUTH_ACK,
            Body::MfStart => kind::MFSTART,
            Body::Update { .. } => kind::UPDATE,
            Body::Module { .. } => kind::MODULE,
            Body::Other { kind, .. } => *kind,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub body: Body,
}

/// Why a frame is refused, with what Redis does about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// Bad signature or a length below the header: the link is closed.
    CloseLink(String),
    /// Wrong version or a length that does not match the type: the
    /// packet is ignored, the link kept.
    Drop(String),
}

// ---------------------------------------------------------------------------
// Encoding

fn put_str(out: &mut [u8], s: &[u8]) {
    let n = s.len().min(out.len() - 1);
    out[..n].copy_from_slice(&s[..n]);
}

fn hostname_ext_len(h: &str) -> usize {
    EXT_HEADER_LEN + (h.len() + 1).div_ceil(8) * 8
}

impl Message {
    /// The bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let h = &self.header;
        let mut out = vec![0u8; HEADER_LEN];
        out[..4].copy_from_slice(SIG);
        out[off::VER..off::VER + 2].copy_from_slice(&VERSION.to_be_bytes());
        out[off::PORT..off::PORT + 2].copy_from_slice(&h.port.to_be_bytes());
        out[off::TYPE..off::TYPE + 2].copy_from_slice(&self.body.kind().to_be_bytes());
        out[off::CURRENT_EPOCH..off::CURRENT_EPOCH + 8]
            .copy_from_slice(&h.current_epoch.to_be_bytes());
        out[off::CONFIG_EPOCH..off::CONFIG_EPOCH + 8]
            .copy_from_slice(&h.config_epoch.to_be_bytes());
        out[off::OFFSET..off::OFFSET + 8].copy_from_slice(&h.offset.to_be_bytes());
        out[off::SENDER..off::SENDER + NODE_ID_LEN].copy_from_slice(&h.sender.0);
        out[off::MYSLOTS..off::MYSLOTS + SLOT_BYTES].copy_from_slice(&h.myslots.0[..]);
        if let Some(m) = &h.slaveof {
            out[off::SLAVEOF..off::SLAVEOF + NODE_ID_LEN].copy_from_slice(m);
        }
        put_str(&mut out[off::MYIP..off::MYIP + IP_LEN], h.myip.as_bytes());
        out[off::PPORT..off::PPORT + 2].copy_from_slice(&h.pport.to_be_bytes());
        out[off::CPORT..off::CPORT + 2].copy_from_slice(&h.cport.to_be_bytes());
        out[off::FLAGS..off::FLAGS + 2].copy_from_slice(&h.flags.to_be_bytes());
        out[off::STATE] = h.state;
        out[off::MFLAGS..off::MFLAGS + 3].copy_from_slice(&h.mflags);
        match &self.body {
            Body::Ping(p) | Body::Pong(p) | Body::Meet(p) => encode_ping(&mut out, p),
            Body::Fail { nodename } => out.extend_from_slice(nodename),
            Body::Publish { channel, message } | Body::PublishShard { channel, message } => {
                out.extend_from_slice(&(channel.len() as u32).to_be_bytes());
                out.extend_from_slice(&(message.len() as u32).to_be_bytes());
                out.extend_from_slice(channel);
                out.extend_from_slice(message);
            }
            Body::FailoverAuthRequest | Body::FailoverAuthAck | Body::MfStart => {}
            Body::Update {
                config_epoch,
                nodename,
                slots,
            } => {
                out.extend_from_slice(&config_epoch.to_be_bytes());
                out.extend_from_slice(nodename);
                out.extend_from_slice(&slots.0[..]);
            }
            Body::Module {
                module_id,
                module_type,
                payload,
            } => {
                out.extend_from_slice(&module_id.to_le_bytes());
                out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
                out.push(*module_type);
                out.extend_from_slice(payload);
            }
            Body::Other { data, .. } => out.extend_from_slice(data),
        }
        let total = out.len() as u32;
        out[off::TOTLEN..off::TOTLEN + 4].copy_from_slice(&total.to_be_bytes());
        out
    }
}

fn encode_ping(out: &mut Vec<u8>, p: &Ping) {
    out[off::COUNT..off::COUNT + 2].copy_from_slice(&(p.gossip.len() as u16).to_be_bytes());
    for g in &p.gossip {
        let mut e = [0u8; GOSSIP_LEN];
        e[..NODE_ID_LEN].copy_from_slice(&g.nodename);
        e[40..44].copy_from_slice(&g.ping_sent.to_be_bytes());
        e[44..48].copy_from_slice(&g.pong_received.to_be_bytes());
        put_str(&mut e[48..48 + IP_LEN], g.ip.as_bytes());
        e[94..96].copy_from_slice(&g.port.to_be_bytes());
        e[96..98].copy_from_slice(&g.cport.to_be_bytes());
        e[98..100].copy_from_slice(&g.flags.to_be_bytes());
        e[100..102].copy_from_slice(&g.pport.to_be_bytes());
        out.extend_from_slice(&e);
    }
    if let Some(host) = &p.hostname {
        let len = hostname_ext_len(host);
        let at = out.len();
        out.resize(at + len, 0);
        out[at..at + 4].copy_from_slice(&(len as u32).to_be_bytes());
        out[at + 4..at + 6].copy_from_slice(&EXT_HOSTNAME.to_be_bytes());
        out[at + EXT_HEADER_LEN..at + EXT_HEADER_LEN + host.len()].copy_from_slice(host.as_bytes());
        out[off::EXTENSIONS..off::EXTENSIONS + 2].copy_from_slice(&1u16.to_be_bytes());
        out[off::MFLAGS] |= mflag::EXT_DATA;
    }
}

// ---------------------------------------------------------------------------
// Decoding

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn id_at(b: &[u8], at: usize) -> NodeId {
    b[at..at + NODE_ID_LEN].try_into().expect("40 bytes")
}

/// A NUL-padded string field.
fn str_at(b: &[u8]) -> String {
    let end = memchr::memchr(0, b).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// The 8-byte prefix check of clusterReadHandler: the total length, or
/// why the link must close.
pub fn frame_len(prefix: &[u8; 8]) -> Result<usize, Invalid> {
    if &prefix[..4] != SIG {
        return Err(Invalid::CloseLink("bad signature".into()));
    }
    let total = u32_at(prefix, off::TOTLEN) as usize;
    if total < HEADER_LEN {
        return Err(Invalid::CloseLink(format!(
            "length {total} below the header"
        )));
    }
    Ok(total)
}

impl Message {
    /// Decodes one whole frame with Redis's checks: signature and minimum
    /// length close the link; version and the exact length each type
    /// must have drop the packet.
    pub fn decode(b: &[u8]) -> Result<Message, Invalid> {
        let prefix: &[u8; 8] = b
            .get(..8)
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| Invalid::CloseLink("shorter than the prefix".into()))?;
        let total = frame_len(prefix)?;
        if b.len() != total {
            return Err(Invalid::Drop(format!(
                "{} bytes for totlen {total}",
                b.len()
            )));
        }
        let version = u16_at(b, off::VER);
        if version != VERSION {
            return Err(Invalid::Drop(format!("protocol version {version}")));
        }
        let ty = u16_at(b, off::TYPE);
        let slaveof = id_at(b, off::SLAVEOF);
        let header = Header {
            port: u16_at(b, off::PORT),
            current_epoch: u64_at(b, off::CURRENT_EPOCH),
            config_epoch: u64_at(b, off::CONFIG_EPOCH),
            offset: u64_at(b, off::OFFSET),
            sender: NodeId0(id_at(b, off::SENDER)),
            myslots: Slots::read(&b[off::MYSLOTS..]),
            slaveof: (slaveof != [0; NODE_ID_LEN]).then_some(slaveof),
            myip: str_at(&b[off::MYIP..off::MYIP + IP_LEN]),
            pport: u16_at(b, off::PPORT),
            cport: u16_at(b, off::CPORT),
            flags: u16_at(b, off::FLAGS),
            state: b[off::STATE],
            mflags: [b[off::MFLAGS], b[off::MFLAGS + 1], b[off::MFLAGS + 2]],
        };
        let data = &b[off::DATA..];
        let exact = |want: usize| {
            if total == want {
                Ok(())
            } else {
                Err(Invalid::Drop(format!(
                    "type {ty}: totlen {total}, expected {want}"
                )))
            }
        };
        let body = match ty {
            kind::PING | kind::PONG | kind::MEET => {
                let p = decode_ping(b, &header, total)?;
                match ty {
                    kind::PING => Body::Ping(p),
                    kind::PONG => Body::Pong(p),
                    _ => Body::Meet(p),
                }
            }
            kind::FAIL => {
                exact(HEADER_LEN + NODE_ID_LEN)?;
                Body::Fail {
                    nodename: id_at(data, 0),
                }
            }
            kind::PUBLISH | kind::PUBLISHSHARD => {
                if total < HEADER_LEN + 8 {
                    return Err(Invalid::Drop("publish lengths missing".into()));
                }
                let (ch, msg) = (u32_at(data, 0) as usize, u32_at(data, 4) as usize);
                exact((HEADER_LEN + 8).saturating_add(ch).saturating_add(msg))?;
                let (channel, message) = (data[8..8 + ch].to_vec(), data[8 + ch..].to_vec());
                if ty == kind::PUBLISH {
                    Body::Publish { channel, message }
                } else {
                    Body::PublishShard { channel, message }
                }
            }
            kind::FAILOVER_AUTH_REQUEST | kind::FAILOVER_AUTH_ACK | kind::MFSTART => {
                exact(HEADER_LEN)?;
                match ty {
                    kind::FAILOVER_AUTH_REQUEST => Body::FailoverAuthRequest,
                    kind::FAILOVER_AUTH_ACK => Body::FailoverAuthAck,
                    _ => Body::MfStart,
                }
            }
            kind::UPDATE => {
                exact(MAX_FIXED_LEN)?;
                Body::Update {
                    config_epoch: u64_at(data, 0),
                    nodename: id_at(data, 8),
                    slots: Slots::read(&data[48..]),
                }
            }
            kind::MODULE => {
                if total < HEADER_LEN + 13 {
                    return Err(Invalid::Drop("module header missing".into()));
                }
                let len = u32_at(data, 8) as usize;
                exact((HEADER_LEN + 13).saturating_add(len))?;
                Body::Module {
                    module_id: u64::from_le_bytes(data[..8].try_into().expect("8 bytes")),
                    module_type: data[12],
                    payload: data[13..].to_vec(),
                }
            }
            // Redis 7.0 assumes types it does not know are well formed.
            _ => Body::Other {
                kind: ty,
                data: data.to_vec(),
            },
        };
        Ok(Message { header, body })
    }
}

/// The gossip section and, with EXT_DATA, the extensions; the length must
/// come out exact.
fn decode_ping(b: &[u8], h: &Header, total: usize) -> Result<Ping, Invalid> {
    let count = u16_at(b, off::COUNT) as usize;
    let mut want = HEADER_LEN + GOSSIP_LEN * count;
    let mut hostname = None;
    let mut exts = Vec::new();
    if h.mflags[0] & mflag::EXT_DATA != 0 {
        for _ in 0..u16_at(b, off::EXTENSIONS) {
            if want + EXT_HEADER_LEN > total {
                return Err(Invalid::Drop("extension past the end".into()));
            }
            let len = u32_at(b, want) as usize;
            if !len.is_multiple_of(8) || total - want < len || len < EXT_HEADER_LEN {
                return Err(Invalid::Drop(format!("ping extension length {len}")));
            }
            exts.push((u16_at(b, want + 4), want + EXT_HEADER_LEN, want + len));
            want += len;
        }
    }
    if total != want {
        return Err(Invalid::Drop(format!(
            "ping: totlen {total}, expected {want}"
        )));
    }
    for (ty, from, to) in exts {
        // Unknown extension types are skipped.
        if ty == EXT_HOSTNAME {
            hostname = Some(str_at(&b[from..to]));
        }
    }
    let gossip = (0..count)
        .map(|i| {
            let e = &b[HEADER_LEN + i * GOSSIP_LEN..];
            Gossip {
                nodename: id_at(e, 0),
                ping_sent: u32_at(e, 40),
                pong_received: u32_at(e, 44),
                ip: str_at(&e[48..48 + IP_LEN]),
                port: u16_at(e, 94),
                cport: u16_at(e, 96),
                flags: u16_at(e, 98),
                pport: u16_at(e, 100),
            }
        })
        .collect();
    Ok(Ping { gossip, hostname })
}

// ---------------------------------------------------------------------------
// Framing

/// Splits a bus link's byte stream into frames: 8 bytes first (signature
/// and length, checked as Redis does), then the rest of the frame.
#[derive(Default)]
pub struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    /// Adds bytes read from the link.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, None until one is complete, or
    /// `Invalid::CloseLink` when the prefix is bad.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, Invalid> {
        let Some(prefix) = self.buf.get(..8) else {
            return Ok(None);
        };
        let total = frame_len(prefix.try_into().expect("8 bytes"))?;
        if self.buf.len() < total {
            return Ok(None);
        }
        let rest = self.buf.split_off(total);
        Ok(Some(std::mem::replace(&mut self.buf, rest)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(c: u8) -> NodeId {
        [c; NODE_ID_LEN]
    }

    fn header() -> Header {
        let mut slots = Slots::default();
        slots.set(0, true);
        slots.set(9, true);
        slots.set(16383, true);
        Header {
            port: 7000,
            current_epoch: 5,
            config_epoch: 3,
            offset: 0x0102030405060708,
            sender: NodeId0(id(b'a')),
            myslots: slots,
            slaveof: None,
            myip: "10.0.0.1".into(),
            pport: 0,
            cport: 17000,
            flags: node::MASTER | node::MYSELF,
            state: 0,
            mflags: [0; 3],
        }
    }

    fn msg(body: Body) -> Message {
        Message {
            header: header(),
            body,
        }
    }

    #[test]
    fn header_fields_sit_at_redis_offsets() {
        let b = msg(Body::MfStart).encode();
        assert_eq!(b.len(), HEADER_LEN);
        assert_eq!(&b[0..4], b"RCmb");
        assert_eq!(&b[4..8], &(HEADER_LEN as u32).to_be_bytes());
        assert_eq!(&b[8..10], &[0, 1]);
        assert_eq!(&b[10..12], &7000u16.to_be_bytes());
        assert_eq!(&b[12..14], &kind::MFSTART.to_be_bytes());
        assert_eq!(&b[16..24], &5u64.to_be_bytes());
        assert_eq!(&b[24..32], &3u64.to_be_bytes());
        assert_eq!(&b[32..40], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&b[40..80], &id(b'a'));
        // Slot 0 is bit 0 of byte 0, slot 9 bit 1 of byte 1, 16383 the top bit.
        assert_eq!(b[80], 1);
        assert_eq!(b[81], 2);
        assert_eq!(b[80 + 2047], 0x80);
        assert_eq!(&b[2128..2168], &[0; 40]);
        assert_eq!(&b[2168..2176], b"10.0.0.1");
        assert_eq!(b[2176], 0);
        assert_eq!(&b[2248..2250], &17000u16.to_be_bytes());
        assert_eq!(&b[2250..2252], &17u16.to_be_bytes());
        assert_eq!(Message::decode(&b).unwrap(), msg(Body::MfStart));
    }

    #[test]
    fn every_type_has_redis_length_and_round_trips() {
        let g = Gossip {
            nodename: id(b'b'),
            ping_sent: 1,
            pong_received: 2,
            ip: "127.0.0.1".into(),
            port: 7001,
            cport: 17001,
            flags: node::SLAVE | node::PFAIL,
            pport: 0,
        };
        let ping = Ping {
            gossip: vec![g.clone(), g],
            hostname: Some("host-1".into()),
        };
        let cases = [
            (Body::Ping(Ping::default()), 2256),
            (Body::Pong(ping.clone()), 2256 + 2 * 104 + 16),
            (
                Body::Meet(Ping {
                    hostname: Some("exactly7".into()),
                    ..ping.clone()
                }),
                2256 + 2 * 104 + 24,
            ),
            (Body::Fail { nodename: id(b'c') }, 2296),
            (
                Body::Publish {
                    channel: b"ch".to_vec(),
                    message: b"hello".to_vec(),
                },
                2264 + 7,
            ),
            (
                Body::PublishShard {
                    channel: b"ch".to_vec(),
                    message: b"hello".to_vec(),
                },
                2271,
            ),
            (Body::FailoverAuthRequest, 2256),
            (Body::FailoverAuthAck, 2256),
            (
                Body::Update {
                    config_epoch: 9,
                    nodename: id(b'd'),
                    slots: header().myslots,
                },
                4352,
            ),
            (
                Body::Module {
                    module_id: 42,
                    module_type: 3,
                    payload: b"abcdef".to_vec(),
                },
                2269 + 6,
            ),
            (
                Body::Other {
                    kind: 11,
                    data: vec![1, 2, 3],
                },
                2259,
            ),
        ];
        for (body, len) in cases {
            let m = msg(body);
            let b = m.encode();
            assert_eq!(b.len(), len, "{:?}", m.body.kind());
            let mut back = Message::decode(&b).unwrap();
            // EXT_DATA is derived from the hostname.
            back.header.mflags[0] &= !mflag::EXT_DATA;
            assert_eq!(back, m);
        }
        let b = msg(Body::Pong(ping)).encode();
        assert_eq!(b[off::MFLAGS] & mflag::EXT_DATA, mflag::EXT_DATA);
        assert_eq!(&b[off::EXTENSIONS..off::EXTENSIONS + 2], &[0, 1]);
        let ext = 2256 + 2 * 104;
        assert_eq!(&b[ext..ext + 8], &[0, 0, 0, 16, 0, 0, 0, 0]);
        assert_eq!(&b[ext + 8..ext + 16], b"host-1\0\0");
    }

    #[test]
    fn bad_frames_close_or_drop_as_redis() {
        let good = msg(Body::Fail { nodename: id(b'c') }).encode();
        let mut b = good.clone();
        b[0] = b'X';
        assert!(matches!(Message::decode(&b), Err(Invalid::CloseLink(_))));
        let mut b = good.clone();
        b[4..8].copy_from_slice(&2255u32.to_be_bytes());
        assert!(matches!(
            Message::decode(&b[..2255]),
            Err(Invalid::CloseLink(_))
        ));
        let mut b = good.clone();
        b[9] = 2;
        assert!(matches!(Message::decode(&b), Err(Invalid::Drop(_))));
        // FAIL one byte long: dropped.
        let mut b = good.clone();
        b.push(0);
        b[4..8].copy_from_slice(&2297u32.to_be_bytes());
        assert!(matches!(Message::decode(&b), Err(Invalid::Drop(_))));
        // Extension bytes without EXT_DATA: the length is wrong.
        let mut b = msg(Body::Ping(Ping {
            gossip: vec![],
            hostname: Some("h".into()),
        }))
        .encode();
        b[off::MFLAGS] = 0;
        assert!(matches!(Message::decode(&b), Err(Invalid::Drop(_))));
        // An extension length that is not a multiple of 8.
        b[off::MFLAGS] = mflag::EXT_DATA;
        b[HEADER_LEN + 3] = 12;
        assert!(matches!(Message::decode(&b), Err(Invalid::Drop(_))));
        assert!(valid_node_id(&id(b'a')));
        assert!(!valid_node_id(&id(b'A')));
        assert!(!valid_node_id(b"abc"));
    }

    #[test]
    fn frame_reader_waits_for_whole_frames() {
        let a = msg(Body::MfStart).encode();
        let b = msg(Body::Fail { nodename: id(b'e') }).encode();
        let mut r = FrameReader::default();
        r.push(&a[..5]);
        assert_eq!(r.next_frame(), Ok(None));
        r.push(&a[5..]);
        r.push(&b[..100]);
        assert_eq!(r.next_frame(), Ok(Some(a)));
        assert_eq!(r.next_frame(), Ok(None));
        r.push(&b[100..]);
        assert_eq!(r.next_frame(), Ok(Some(b)));
        r.push(b"RCmX\0\0\0\0");
        assert!(matches!(r.next_frame(), Err(Invalid::CloseLink(_))));
    }
}
