//! The option table: every config option, once. The file parser, the
//! command line, CONFIG GET/SET/REWRITE and the code that reads options all
//! go through it. To add an option, add a row here; code reads it with
//! `config::num(Opt::X)` or `config::text(Opt::X)`.

/// What values an option takes; this also decides how it is parsed and shown.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `yes` / `no`.
    Bool,
    /// A decimal integer in a range.
    Int { min: i64, max: i64 },
    /// Bytes, with Redis's units (`1k`=1000, `1kb`=1024, `mb`, `gb` ...).
    Memory { min: i64, max: i64 },
    /// One of the listed words.
    Enum(&'static [&'static str]),
    /// Free text (one argument).
    Str,
    /// One or more words, kept space separated (`bind 127.0.0.1 ::1`).
    List,
}

/// One row of the table.
#[derive(Debug)]
pub struct OptDef {
    pub name: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    /// Settable with CONFIG SET.
    pub mutable: bool,
}

macro_rules! options {
    ($( $var:ident: $name:literal, $kind:expr, $default:literal, $mutable:expr; )*) => {
        /// Index of an option in [`OPTIONS`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(usize)]
        pub enum Opt { $($var),* }

        /// The option table.
        pub static OPTIONS: &[OptDef] = &[
            $( OptDef { name: $name, kind: $kind, default: $default, mutable: $mutable } ),*
        ];
    };
}

const INT: i64 = i32::MAX as i64;
const MUTABLE: bool = true;
const FIXED: bool = false;
pub const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning", "nothing"];

options! {
    Bind: "bind", Kind::List, "* -::*", FIXED;
    Port: "port", Kind::Int { min: 0, max: 65535 }, "6379", FIXED;
    Threads: "threads", Kind::Int { min: 0, max: 1024 }, "0", FIXED;
    Dir: "dir", Kind::Str, ".", MUTABLE;
    Databases: "databases", Kind::Int { min: 1, max: INT }, "16", FIXED;
    Requirepass: "requirepass", Kind::Str, "", MUTABLE;
    Maxclients: "maxclients", Kind::Int { min: 1, max: INT }, "10000", MUTABLE;
    Timeout: "timeout", Kind::Int { min: 0, max: INT }, "0", MUTABLE;
    TcpKeepalive: "tcp-keepalive", Kind::Int { min: 0, max: INT }, "300", MUTABLE;
    TcpBacklog: "tcp-backlog", Kind::Int { min: 0, max: INT }, "511", FIXED;
    Loglevel: "loglevel", Kind::Enum(LOGLEVELS), "notice", MUTABLE;
    Logfile: "logfile", Kind::Str, "", FIXED;
    Pidfile: "pidfile", Kind::Str, "", FIXED;
    ProtectedMode: "protected-mode", Kind::Bool, "yes", MUTABLE;
    ProtoMaxBulkLen: "proto-max-bulk-len", Kind::Memory { min: 1024 * 1024, max: i64::MAX }, "512mb", MUTABLE;
    ClientQueryBufferLimit: "client-query-buffer-limit", Kind::Memory { min: 1024 * 1024, max: i64::MAX }, "1gb", MUTABLE;
    Hz: "hz", Kind::Int { min: 1, max: 500 }, "10", MUTABLE;
    ListMaxListpackSize: "list-max-listpack-size", Kind::Int { min: i64::MIN, max: i64::MAX }, "-2", MUTABLE;
    HashMaxListpackEntries: "hash-max-listpack-entries", Kind::Int { min: 0, max: i64::MAX }, "512", MUTABLE;
    HashMaxListpackValue: "hash-max-listpack-value", Kind::Int { min: 0, max: i64::MAX }, "64", MUTABLE;
    SetMaxIntsetEntries: "set-max-intset-entries", Kind::Int { min: 0, max: i64::MAX }, "512", MUTABLE;
    SetMaxListpackEntries: "set-max-listpack-entries", Kind::Int { min: 0, max: i64::MAX }, "128", MUTABLE;
    SetMaxListpackValue: "set-max-listpack-value", Kind::Int { min: 0, max: i64::MAX }, "64", MUTABLE;
    ZsetMaxListpackEntries: "zset-max-listpack-entries", Kind::Int { min: 0, max: i64::MAX }, "128", MUTABLE;
    ZsetMaxListpackValue: "zset-max-listpack-value", Kind::Int { min: 0, max: i64::MAX }, "64", MUTABLE;
}

/// Older option names (Redis 6 ziplist names) that configs still use.
const ALIASES: &[(&str, &str)] = &[
    ("list-max-ziplist-size", "list-max-listpack-size"),
    ("hash-max-ziplist-entries", "hash-max-listpack-entries"),
    ("hash-max-ziplist-value", "hash-max-listpack-value"),
    ("zset-max-ziplist-entries", "zset-max-listpack-entries"),
    ("zset-max-ziplist-value", "zset-max-listpack-value"),
];

impl Opt {
    pub fn def(self) -> &'static OptDef {
        &OPTIONS[self as usize]
    }

    /// Finds an option by its name or by an older name Redis still accepts.
    pub fn by_name(name: &str) -> Option<usize> {
        let name = ALIASES
            .iter()
            .find(|(old, _)| old.eq_ignore_ascii_case(name))
            .map_or(name, |(_, new)| new);
        OPTIONS
            .iter()
            .position(|o| o.name.eq_ignore_ascii_case(name))
    }
}

/// Parses `value` for option `def`: the normalized text to keep and, for
/// numeric kinds, the number. Errors are Redis's texts.
pub fn parse_value(def: &OptDef, args: &[String]) -> Result<(String, i64), String> {
    if !matches!(def.kind, Kind::List) && args.len() != 1 {
        return Err("wrong number of arguments".into());
    }
    let v = args.first().map(String::as_str).unwrap_or("");
    match def.kind {
        Kind::Bool => match v.to_ascii_lowercase().as_str() {
            "yes" => Ok(("yes".into(), 1)),
            "no" => Ok(("no".into(), 0)),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Int { min, max } => {
            let n: i64 = v
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            in_range(n, min, max)?;
            Ok((n.to_string(), n))
        }
        Kind::Memory { min, max } => {
            let n = parse_memory(v).ok_or_else(|| "argument must be a memory value".to_string())?;
            in_range(n, min, max)?;
            Ok((n.to_string(), n))
        }
        Kind::Enum(words) => match words.iter().position(|w| w.eq_ignore_ascii_case(v)) {
            Some(i) => Ok((words[i].to_string(), i as i64)),
            None => Err(format!(
                "argument(s) must be one of the following: {}",
                words.join(", ")
            )),
        },
        Kind::Str => Ok((v.to_string(), 0)),
        Kind::List => Ok((args.join(" "), 0)),
    }
}

fn in_range(n: i64, min: i64, max: i64) -> Result<(), String> {
    if n < min || n > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(())
}

/// Redis's memtoll: `1k`=1000, `1kb`=1024, `m`, `mb`, `g`, `gb`, any case.
pub fn parse_memory(s: &str) -> Option<i64> {
    let lower = s.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit() && c != '-')
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let mul: i64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    num.parse::<i64>().ok()?.checked_mul(mul)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_unique_and_defaults_parse() {
        for (i, o) in OPTIONS.iter().enumerate() {
            assert!(
                OPTIONS[..i].iter().all(|p| p.name != o.name),
                "{} twice",
                o.name
            );
            let args: Vec<String> = o.default.split(' ').map(String::from).collect();
            let args = if matches!(o.kind, Kind::List) {
                args
            } else {
                vec![o.default.to_string()]
            };
            parse_value(o, &args).unwrap_or_else(|e| panic!("{}: {e}", o.name));
        }
    }

    #[test]
    fn old_ziplist_names_are_accepted() {
        assert_eq!(
            Opt::by_name("hash-max-ziplist-entries"),
            Some(Opt::HashMaxListpackEntries as usize)
        );
        assert_eq!(
            Opt::by_name("LIST-MAX-ZIPLIST-SIZE"),
            Some(Opt::ListMaxListpackSize as usize)
        );
        for (_, new) in ALIASES {
            assert!(Opt::by_name(new).is_some(), "{new}");
        }
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("512mb"), Some(512 << 20));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1GB"), Some(1 << 30));
        assert_eq!(parse_memory("12x"), None);
    }
}
