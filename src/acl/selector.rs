//! One set of permissions: commands as a bitset by command id, key
//! patterns with read/write flags, channel patterns. A user has a root
//! selector and any number of `(...)` selectors; a command may run when one
//! of them allows it.

use std::collections::HashMap;

use bytes::Bytes;

use super::category::{ids, BITS};
use super::keys::{self, READ, WRITE};

const WORDS: usize = BITS / 64;

/// Why a selector refuses a command, ordered as Redis ranks them when
/// several selectors refuse (the highest is reported).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denied {
    Command,
    Key,
    Channel,
}

#[derive(Clone, Debug, Default)]
pub struct Selector {
    bits: [u64; WORDS],
    /// `+@all`: commands added later are allowed too.
    all_commands: bool,
    /// The command rules as given, each kept once (`+get`, `-@hash` ...).
    rules: Vec<String>,
    /// `+select|0`: first arguments allowed for a command whose bit is off.
    first_args: HashMap<usize, Vec<String>>,
    pub all_keys: bool,
    /// (READ|WRITE flags, pattern).
    keys: Vec<(u8, Vec<u8>)>,
    pub all_channels: bool,
    channels: Vec<Vec<u8>>,
}

/// Redis's texts for a rule it refuses.
pub const NO_SUCH: &str = "Unknown command or category name in ACL";
pub const SYNTAX: &str = "Syntax error";
const KEYS_AFTER_ALL: &str = "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns";
const CHANNELS_AFTER_ALL: &str = "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels";
const FIRST_ARG_OF_SUB: &str = "Allowing first-arg of a subcommand is not supported";

impl Selector {
    /// A selector that allows nothing; channels as `acl-pubsub-default`.
    pub fn new(all_channels: bool) -> Selector {
        Selector {
            all_channels,
            ..Selector::default()
        }
    }

    /// Everything: the default user's `~* &* +@all`.
    pub fn everything() -> Selector {
        let mut s = Selector::new(true);
        s.all_keys = true;
        s.apply("+@all").expect("valid rule");
        s
    }

    /// Whether this selector allows every command on every key and channel.
    pub fn unrestricted(&self) -> bool {
        self.all_keys
            && self.all_channels
            && self.all_commands
            && (0..ids().names.len()).all(|id| self.allowed(id))
    }

    #[inline]
    fn allowed(&self, id: usize) -> bool {
        self.bits[id / 64] & 1 << (id % 64) != 0
    }

    fn set(&mut self, id: usize, on: bool) {
        if on {
            self.bits[id / 64] |= 1 << (id % 64);
        } else {
            self.bits[id / 64] &= !(1 << (id % 64));
        }
        self.first_args.remove(&id);
    }

    /// A command and, for a container, all its subcommands.
    fn set_command(&mut self, id: usize, on: bool) {
        self.set(id, on);
        if let Some(subs) = ids().subs.get(&id) {
            for &s in subs {
                self.set(s, on);
            }
        }
    }

    /// Records `rule` (without its sign) once, at the end.
    fn note_rule(&mut self, rule: &str, allow: bool) {
        let rule = rule.to_ascii_lowercase();
        self.rules.retain(|r| r[1..] != rule);
        self.rules
            .push(format!("{}{rule}", if allow { '+' } else { '-' }));
    }

    /// Applies one rule (`+get`, `~key*`, `&chan`, `allkeys` ...), or says
    /// why Redis refuses it.
    pub fn apply(&mut self, op: &str) -> Result<(), &'static str> {
        let lower = op.to_ascii_lowercase();
        match lower.as_str() {
            "allkeys" | "~*" => {
                self.all_keys = true;
                self.keys.clear();
            }
            "resetkeys" => {
                self.all_keys = false;
                self.keys.clear();
            }
            "allchannels" | "&*" => {
                self.all_channels = true;
                self.channels.clear();
            }
            "resetchannels" => {
                self.all_channels = false;
                self.channels.clear();
            }
            "allcommands" | "+@all" | "nocommands" | "-@all" => {
                let on = lower.starts_with('a') || lower.starts_with('+');
                self.bits = [if on { u64::MAX } else { 0 }; WORDS];
                self.all_commands = on;
                self.rules.clear();
                self.first_args.clear();
            }
            _ if op.starts_with('~') || op.starts_with('%') => return self.add_key_pattern(op),
            _ if op.starts_with('&') => {
                if self.all_channels {
                    return Err(CHANNELS_AFTER_ALL);
                }
                let p = op.as_bytes()[1..].to_vec();
                if !self.channels.contains(&p) {
                    self.channels.push(p);
                }
            }
            _ if op.len() > 2 && (op.starts_with("+@") || op.starts_with("-@")) => {
                let cat = super::category::by_name(&op[2..]).ok_or(NO_SUCH)?;
                let on = op.starts_with('+');
                let ids = ids();
                for id in 0..ids.names.len() {
                    if ids.masks[id] & cat != 0 {
                        self.set(id, on);
                    }
                }
                self.note_rule(&op[1..], on);
            }
            _ if op.len() > 1 && (op.starts_with('+') || op.starts_with('-')) => {
                return self.command_rule(&op[1..], op.starts_with('+'))
            }
            _ => return Err(SYNTAX),
        }
        Ok(())
    }

    /// `~pat`, `%R~pat`, `%W~pat`, `%RW~pat`.
    fn add_key_pattern(&mut self, op: &str) -> Result<(), &'static str> {
        if self.all_keys {
            return Err(KEYS_AFTER_ALL);
        }
        let (flags, pattern) = if let Some(p) = op.strip_prefix('~') {
            (READ | WRITE, p)
        } else {
            let (perm, p) = op[1..].split_once('~').ok_or(SYNTAX)?;
            let mut flags = 0;
            for c in perm.chars() {
                flags |= match c.to_ascii_uppercase() {
                    'R' => READ,
                    'W' => WRITE,
                    _ => return Err(SYNTAX),
                };
            }
            if flags == 0 {
                return Err(SYNTAX);
            }
            (flags, p)
        };
        let pattern = pattern.as_bytes().to_vec();
        match self.keys.iter_mut().find(|(_, p)| *p == pattern) {
            Some((f, _)) => *f |= flags,
            None => self.keys.push((flags, pattern)),
        }
        Ok(())
    }

    /// `+cmd`, `-cmd`, `+cmd|sub`, `-cmd|sub`.
    fn command_rule(&mut self, name: &str, on: bool) -> Result<(), &'static str> {
        let ids = ids();
        let Some((cmd, sub)) = name.split_once('|') else {
            let id = ids.lookup(name).ok_or(NO_SUCH)?;
            self.set_command(id, on);
            self.note_rule(&ids.names[id].clone(), on);
            return Ok(());
        };
        let container = ids.lookup(cmd).ok_or(NO_SUCH)?;
        if on && sub.contains('|') {
            return Err(FIRST_ARG_OF_SUB);
        }
        if let Some(id) = ids.lookup(name).filter(|_| ids.is_container(container)) {
            self.set(id, on);
        } else if on && !ids.is_container(container) && !sub.is_empty() {
            // A first argument (SELECT 0): only while the command is off.
            let args = self.first_args.entry(container).or_default();
            let sub = sub.to_ascii_lowercase();
            if !args.contains(&sub) {
                args.push(sub);
            }
        } else {
            return Err(NO_SUCH);
        }
        self.note_rule(name, on);
        Ok(())
    }

    /// Whether this selector lets `args` run as command `id` (row `row`).
    pub fn check(&self, id: usize, row: usize, args: &[Bytes]) -> Result<(), (Denied, usize)> {
        if !self.allowed(id) {
            let first = args
                .get(1)
                .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase());
            let ok = match (self.first_args.get(&row), first) {
                (Some(allowed), Some(a)) => allowed.contains(&a),
                _ => false,
            };
            if !ok {
                return Err((Denied::Command, 0));
            }
        }
        if !self.all_keys {
            for (i, need) in keys::of(row, args) {
                if !self.key_allowed(&args[i], need) {
                    return Err((Denied::Key, i));
                }
            }
        }
        if !self.all_channels {
            for (i, pattern) in keys::channels(row, args) {
                if !self.channel_allowed(&args[i], pattern) {
                    return Err((Denied::Channel, i));
                }
            }
        }
        Ok(())
    }

    pub fn key_allowed(&self, key: &[u8], need: u8) -> bool {
        self.all_keys
            || self
                .keys
                .iter()
                .any(|(f, p)| f & need == need && crate::glob::matches(p, key, false))
    }

    /// A channel is matched by a pattern; a pattern subscription must name
    /// an allowed pattern exactly.
    pub fn channel_allowed(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.all_channels
            || self.channels.iter().any(|p| {
                if is_pattern {
                    p == channel
                } else {
                    crate::glob::matches(p, channel, false)
                }
            })
    }

    /// `~a %R~b` (`~*` for all keys), as GETUSER shows them.
    pub fn key_text(&self) -> String {
        if self.all_keys {
            return "~*".into();
        }
        let words: Vec<String> = self
            .keys
            .iter()
            .map(|(f, p)| {
                let perm = match *f {
                    READ => "%R",
                    WRITE => "%W",
                    _ => "",
                };
                format!("{perm}~{}", String::from_utf8_lossy(p))
            })
            .collect();
        words.join(" ")
    }

    /// `&a &b` (`&*` for all channels), as GETUSER shows them.
    pub fn channel_text(&self) -> String {
        if self.all_channels {
            return "&*".into();
        }
        let words: Vec<String> = self
            .channels
            .iter()
            .map(|p| format!("&{}", String::from_utf8_lossy(p)))
            .collect();
        words.join(" ")
    }

    /// `+@all -debug` ...: where it started and the rules after.
    pub fn command_text(&self) -> String {
        let mut s = String::from(if self.all_commands { "+@all" } else { "-@all" });
        for r in &self.rules {
            s.push(' ');
            s.push_str(r);
        }
        s
    }

    /// The selector as ACL LIST and the ACL file write it.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let keys = self.key_text();
        if !keys.is_empty() {
            s.push_str(&keys);
            s.push(' ');
        }
        if !self.all_channels {
            s.push_str("resetchannels ");
        }
        let channels = self.channel_text();
        if !channels.is_empty() {
            s.push_str(&channels);
            s.push(' ');
        }
        s.push_str(&self.command_text());
        s
    }
}
