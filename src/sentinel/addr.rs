//! Instance addresses with hostnames (Redis 7.0's sentinelAddr and the
//! `resolve-hostnames` / `announce-hostnames` options).
//!
//! An address keeps the host as it was given (a hostname or an IP) and
//! the IP it resolved to: links connect to the IP; what the sentinel
//! tells others (hellos, events, replies, scripts, SLAVEOF, the config
//! file) is the host with announce-hostnames, else the IP. Without
//! resolve-hostnames only IP literals are addresses.
//!
//! The two options are process-wide flags rather than fields of the
//! sentinel state because event lines and replica names are formatted
//! where that state is not at hand (as Redis reads its globals).

use std::sync::atomic::{AtomicBool, Ordering};

static RESOLVE: AtomicBool = AtomicBool::new(false);
static ANNOUNCE: AtomicBool = AtomicBool::new(false);

pub fn resolve_hostnames() -> bool {
    RESOLVE.load(Ordering::Relaxed)
}

pub fn set_resolve_hostnames(on: bool) {
    RESOLVE.store(on, Ordering::Relaxed);
}

pub fn announce_hostnames() -> bool {
    ANNOUNCE.load(Ordering::Relaxed)
}

pub fn set_announce_hostnames(on: bool) {
    ANNOUNCE.store(on, Ordering::Relaxed);
}

/// Why an address could not be made (Redis's errno ENOENT / EINVAL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bad {
    Unresolved,
    Port,
}

/// anetResolve: an IP literal as the system writes it; a hostname only
/// with resolve-hostnames, as the first address getaddrinfo gives (a
/// blocking lookup, as in Redis).
pub fn resolve(host: &str) -> Option<String> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Some(ip.to_string());
    }
    if !resolve_hostnames() {
        return None;
    }
    std::net::ToSocketAddrs::to_socket_addrs(&(host, 0))
        .ok()
        .and_then(|mut a| a.next())
        .map(|a| a.ip().to_string())
}

/// `[v6]` for an IPv6 address, as host:port forms need.
pub fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    /// As given: a hostname or an IP.
    pub host: String,
    /// What `host` resolved to; empty while a hostname does not resolve.
    pub ip: String,
    /// 0 marks an address not to connect to.
    pub port: u16,
}

impl Addr {
    /// createSentinelAddr: resolves `host` now. A hostname that does not
    /// resolve is kept (with no IP yet) only with resolve-hostnames and
    /// `accept_unresolved`.
    pub fn new(host: &str, port: i64, accept_unresolved: bool) -> Result<Addr, Bad> {
        let port = u16::try_from(port).map_err(|_| Bad::Port)?;
        let ip = match resolve(host) {
            Some(ip) => ip,
            None => {
                tracing::warn!("Failed to resolve hostname '{host}'");
                if !(resolve_hostnames() && accept_unresolved) {
                    return Err(Bad::Unresolved);
                }
                String::new()
            }
        };
        Ok(Addr {
            host: host.to_string(),
            ip,
            port,
        })
    }

    /// What others are told: the host with announce-hostnames, else the IP.
    pub fn announced(&self) -> &str {
        if announce_hostnames() {
            &self.host
        } else {
            &self.ip
        }
    }

    /// `host:port` (IPv6 bracketed) as announced: a replica's name.
    pub fn announced_with_port(&self) -> String {
        format!("{}:{}", bracket(self.announced()), self.port)
    }

    /// sentinelAddrOrHostnameEqual: same port, and the same IP or (for
    /// hosts not resolved yet) the same hostname.
    pub fn same(&self, o: &Addr) -> bool {
        self.port == o.port
            && ((!self.ip.is_empty() && self.ip == o.ip) || self.host.eq_ignore_ascii_case(&o.host))
    }

    /// sentinelAddrEqualsHostname: whether `host` (what an instance or a
    /// hello names) is this address: by IP once it resolves, else by name.
    pub fn equals_host(&self, host: &str) -> bool {
        match resolve(host) {
            Some(ip) => self.ip.eq_ignore_ascii_case(&ip),
            None if resolve_hostnames() => self.host.eq_ignore_ascii_case(host),
            None => self.ip.eq_ignore_ascii_case(host),
        }
    }

    /// Resolves the host again (an instance may come back at another IP):
    /// sentinelReconnectInstance with resolve-hostnames.
    pub fn refresh(&mut self) {
        if resolve_hostnames() {
            if let Some(ip) = resolve(&self.host) {
                self.ip = ip;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test: the flags are process-wide.
    #[test]
    fn hostnames_resolve_and_announce_only_when_asked() {
        set_resolve_hostnames(false);
        set_announce_hostnames(false);
        assert_eq!(Addr::new("localhost", 1, true), Err(Bad::Unresolved));
        assert_eq!(Addr::new("127.0.0.1", 70000, true), Err(Bad::Port));
        let ip = Addr::new("127.0.0.1", 6379, false).unwrap();
        assert_eq!(ip.announced_with_port(), "127.0.0.1:6379");
        set_resolve_hostnames(true);
        let h = Addr::new("localhost", 6379, false).unwrap();
        assert!(h.ip == "127.0.0.1" || h.ip == "::1");
        assert_eq!(h.announced(), h.ip);
        set_announce_hostnames(true);
        assert_eq!(h.announced_with_port(), "localhost:6379");
        assert!(h.equals_host("localhost") && h.equals_host(&h.ip));
        let lost = Addr::new("nosuch.invalid", 6379, true).unwrap();
        assert_eq!(lost.ip, "");
        assert!(lost.equals_host("NOSUCH.invalid") && !lost.same(&h));
        assert!(Addr::new("nosuch.invalid", 6379, false).is_err());
        set_resolve_hostnames(false);
        set_announce_hostnames(false);
    }
}
