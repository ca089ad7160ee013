//! `#!lua flags=...` on EVAL scripts, and the flag words FUNCTION's
//! `redis.register_function{flags=...}` shares with it.

/// A script's or function's flags. A script without a shebang runs in
/// Redis's EVAL compatibility mode (`eval_compat`), with no flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptFlags {
    pub no_writes: bool,
    pub allow_oom: bool,
    pub allow_stale: bool,
    pub no_cluster: bool,
    pub allow_cross_slot_keys: bool,
    pub eval_compat: bool,
}

impl ScriptFlags {
    /// Sets the flag named `word`; false when no flag has that name.
    pub fn set(&mut self, word: &[u8]) -> bool {
        let f = match word {
            b"no-writes" => &mut self.no_writes,
            b"allow-oom" => &mut self.allow_oom,
            b"allow-stale" => &mut self.allow_stale,
            b"no-cluster" => &mut self.no_cluster,
            b"allow-cross-slot-keys" => &mut self.allow_cross_slot_keys,
            _ => return false,
        };
        *f = true;
        true
    }

    /// Flag names in Redis's order (FUNCTION LIST's `flags`).
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.no_writes, "no-writes"),
            (self.allow_oom, "allow-oom"),
            (self.allow_stale, "allow-stale"),
            (self.no_cluster, "no-cluster"),
            (self.allow_cross_slot_keys, "allow-cross-slot-keys"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

/// Parses an EVAL script's shebang line. Returns the flags and the length of
/// the shebang (the code after it keeps its newline, so line numbers hold).
/// Errors are Redis's texts, ready to reply.
pub fn parse_shebang(body: &[u8]) -> Result<(ScriptFlags, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((
            ScriptFlags {
                eval_compat: true,
                ..ScriptFlags::default()
            },
            0,
        ));
    }
    let Some(end) = memchr::memchr(b'\n', body) else {
        return Err("ERR Invalid script shebang".into());
    };
    let parts = match crate::protocol::inline::split_args(&body[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("ERR Invalid engine in script shebang".into()),
    };
    if parts[0] != b"#!lua" {
        return Err(format!(
            "ERR Unexpected engine in script shebang: {}",
            String::from_utf8_lossy(&parts[0])
        ));
    }
    let mut flags = ScriptFlags::default();
    for part in &parts[1..] {
        let Some(list) = part.strip_prefix(b"flags=") else {
            return Err(format!(
                "ERR Unknown lua shebang option: {}",
                String::from_utf8_lossy(part)
            ));
        };
        if list.is_empty() {
            continue;
        }
        for word in list.split(|&c| c == b',') {
            if !flags.set(word) {
                return Err(format!(
                    "ERR Unexpected flag in script shebang: {}",
                    String::from_utf8_lossy(word)
                ));
            }
        }
    }
    Ok((flags, end))
}
