//! Cluster mode: the slot map read with CLUSTER SLOTS (through a small
//! blocking client used only at start) and the MOVED/ASK redirections.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use redwing::storage::slot::{key_slot, SLOTS};

/// A reply, fully read; only the start-up path builds these.
#[derive(Debug)]
pub enum Value {
    Str(Vec<u8>),
    Int(i64),
    Array(Vec<Value>),
    Nil,
    Error(String),
}

/// Reads one RESP2 reply (what CLUSTER SLOTS and AUTH answer).
pub fn read_value(r: &mut impl BufRead) -> Result<Value, String> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line).map_err(|e| e.to_string())?;
    if line.len() < 3 {
        return Err("connection closed".into());
    }
    let body = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
    let n = || {
        body.parse::<i64>()
            .map_err(|_| format!("bad reply line {body:?}"))
    };
    Ok(match line[0] {
        b'+' => Value::Str(body.into_bytes()),
        b'-' => Value::Error(body),
        b':' => Value::Int(n()?),
        b'$' if n()? < 0 => Value::Nil,
        b'$' => {
            let mut b = vec![0; n()? as usize + 2];
            r.read_exact(&mut b).map_err(|e| e.to_string())?;
            b.truncate(b.len() - 2);
            Value::Str(b)
        }
        b'*' if n()? < 0 => Value::Nil,
        b'*' => Value::Array((0..n()?).map(|_| read_value(r)).collect::<Result<_, _>>()?),
        _ => return Err(format!("unexpected reply {body:?}")),
    })
}

/// Encodes a command as RESP.
pub fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The AUTH command for the flags, if any.
pub fn auth_command(user: Option<&str>, password: Option<&str>) -> Option<Vec<u8>> {
    let pass = password?;
    Some(match user {
        Some(u) => command(&[b"AUTH", u.as_bytes(), pass.as_bytes()]),
        None => command(&[b"AUTH", pass.as_bytes()]),
    })
}

/// Asks one node for the slot map.
pub fn discover(addr: &str, auth: Option<&[u8]>) -> Result<SlotMap, String> {
    let s = TcpStream::connect(addr).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s);
    if let Some(auth) = auth {
        w.write_all(auth).map_err(|e| e.to_string())?;
        if let Value::Error(e) = read_value(&mut r)? {
            return Err(format!("AUTH: {e}"));
        }
    }
    w.write_all(&command(&[b"CLUSTER", b"SLOTS"]))
        .map_err(|e| e.to_string())?;
    let ranges = match read_value(&mut r)? {
        Value::Array(a) => a,
        Value::Error(e) => return Err(format!("CLUSTER SLOTS on {addr}: {e}")),
        v => return Err(format!("CLUSTER SLOTS on {addr}: unexpected {v:?}")),
    };
    let mut map = SlotMap {
        nodes: Vec::new(),
        owner: vec![u16::MAX; SLOTS],
    };
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    for range in ranges {
        let Value::Array(f) = range else { continue };
        let (Some(Value::Int(from)), Some(Value::Int(to)), Some(Value::Array(master))) =
            (f.first(), f.get(1), f.get(2))
        else {
            return Err("CLUSTER SLOTS: unexpected entry".into());
        };
        let ip = match master.first() {
            Some(Value::Str(ip)) if !ip.is_empty() && ip != b"?" => {
                String::from_utf8_lossy(ip).into_owned()
            }
            // An empty or unknown endpoint means "the address you asked".
            _ => host.to_string(),
        };
        let Some(Value::Int(port)) = master.get(1) else {
            return Err("CLUSTER SLOTS: no port".into());
        };
        let node = map.node_index(&format!("{ip}:{port}"));
        for s in *from as usize..=*to as usize {
            map.owner[s] = node as u16;
        }
    }
    if map.nodes.is_empty() {
        return Err(format!("{addr}: the cluster has no slots assigned"));
    }
    if map.owner.contains(&u16::MAX) {
        eprintln!(
            "redwing-bench: warning: some slots have no node; their keys go to the first node"
        );
        for o in map.owner.iter_mut().filter(|o| **o == u16::MAX) {
            *o = 0;
        }
    }
    Ok(map)
}

/// Slot → node, and the node addresses. Each worker thread keeps its own
/// copy and updates it on MOVED.
#[derive(Debug, Clone)]
pub struct SlotMap {
    pub nodes: Vec<String>,
    owner: Vec<u16>,
}

impl SlotMap {
    /// A map that sends everything to one node (not cluster mode).
    pub fn single(addr: String) -> SlotMap {
        SlotMap {
            nodes: vec![addr],
            owner: Vec::new(),
        }
    }

    #[inline]
    pub fn route(&self, key: &[u8]) -> usize {
        if self.owner.is_empty() {
            0
        } else {
            self.owner[key_slot(key)] as usize
        }
    }

    /// Index of `addr`, added if new.
    pub fn node_index(&mut self, addr: &str) -> usize {
        match self.nodes.iter().position(|n| n == addr) {
            Some(i) => i,
            None => {
                self.nodes.push(addr.to_string());
                self.nodes.len() - 1
            }
        }
    }

    pub fn moved(&mut self, slot: usize, node: usize) {
        if let Some(o) = self.owner.get_mut(slot) {
            *o = node as u16;
        }
    }
}

/// A parsed `MOVED <slot> <addr>` or `ASK <slot> <addr>` error.
pub struct Redirect {
    pub ask: bool,
    pub slot: usize,
    pub addr: String,
}

pub fn redirect(error: &[u8]) -> Option<Redirect> {
    let text = std::str::from_utf8(error).ok()?;
    let mut w = text.split_ascii_whitespace();
    let ask = match w.next()? {
        "MOVED" => false,
        "ASK" => true,
        _ => return None,
    };
    let slot = w.next()?.parse().ok()?;
    let addr = w.next()?.to_string();
    Some(Redirect { ask, slot, addr })
}
