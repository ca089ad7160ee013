//! Two network namespaces joined by a veth pair, side A at `A_IP` and side
//! B at `B_IP`, for tests that cut hosts apart. A thread enters a side
//! (`NetPair::enter`): the sockets it opens and the processes it starts
//! live there. `cut` adds a blackhole route on each side for the other's
//! address, so packets between the sides vanish and open connections
//! hang, as in a real partition; `heal` removes the routes.
#![allow(dead_code)]

use std::os::fd::{AsRawFd, OwnedFd};

pub const A_IP: &str = "10.78.0.1";
pub const B_IP: &str = "10.78.0.2";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    A,
    B,
}

/// The namespace pair; deleted when dropped.
pub struct NetPair {
    a: String,
    b: String,
}

static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn sh(cmd: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", cmd])
        .status()
        .is_ok_and(|s| s.success())
}

impl NetPair {
    /// Creates the pair. None (with a message) when namespaces cannot be
    /// made here and REDWING_NO_NETNS is set; without it that panics, so
    /// that a skipped test is a choice, not an accident.
    pub fn new() -> Option<NetPair> {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{}x{n}", std::process::id());
        let pair = NetPair {
            a: format!("rwa{id}"),
            b: format!("rwb{id}"),
        };
        let (a, b) = (&pair.a, &pair.b);
        // The veth ends are created inside the namespaces: their names
        // never meet anything in the host's namespace.
        let ok = sh(&format!(
            "ip netns add {a} && ip netns add {b} && \
             ip netns exec {a} ip link add va type veth peer name vb netns {b} && \
             ip netns exec {a} ip addr add {A_IP}/24 dev va && \
             ip netns exec {b} ip addr add {B_IP}/24 dev vb && \
             ip netns exec {a} ip link set va up && ip netns exec {b} ip link set vb up && \
             ip netns exec {a} ip link set lo up && ip netns exec {b} ip link set lo up"
        ));
        if !ok {
            assert!(
                std::env::var_os("REDWING_NO_NETNS").is_some(),
                "cannot create network namespaces (needs root and iproute2's `ip`); \
                 set REDWING_NO_NETNS=1 to skip the tests that need them"
            );
            eprintln!("skipped (REDWING_NO_NETNS): cannot create network namespaces here");
            return None;
        }
        Some(pair)
    }

    fn name(&self, side: Side) -> &str {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    /// Moves the calling thread into `side` until the guard is dropped.
    pub fn enter(&self, side: Side) -> Entered {
        let back = open("/proc/thread-self/ns/net");
        set_ns(&open(&format!("/run/netns/{}", self.name(side))));
        Entered { back }
    }

    /// Runs `f` with the calling thread in `side`.
    pub fn within<R>(&self, side: Side, f: impl FnOnce() -> R) -> R {
        let _in = self.enter(side);
        f()
    }

    /// Drops every packet between the sides.
    pub fn cut(&self) {
        assert!(sh(&format!(
            "ip netns exec {} ip route add blackhole {B_IP}/32 && \
             ip netns exec {} ip route add blackhole {A_IP}/32",
            self.a, self.b
        )));
    }

    pub fn heal(&self) {
        assert!(sh(&format!(
            "ip netns exec {} ip route del blackhole {B_IP}/32 && \
             ip netns exec {} ip route del blackhole {A_IP}/32",
            self.a, self.b
        )));
    }
}

impl Drop for NetPair {
    fn drop(&mut self) {
        sh(&format!(
            "ip netns del {} 2>/dev/null; ip netns del {} 2>/dev/null",
            self.a, self.b
        ));
    }
}

/// A thread inside a namespace; back where it was when dropped.
pub struct Entered {
    back: OwnedFd,
}

impl Drop for Entered {
    fn drop(&mut self) {
        set_ns(&self.back);
    }
}

fn open(path: &str) -> OwnedFd {
    std::fs::File::open(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .into()
}

fn set_ns(fd: &OwnedFd) {
    // SAFETY: fd is an open namespace file; setns only changes the
    // calling thread's network namespace.
    let r = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
}
