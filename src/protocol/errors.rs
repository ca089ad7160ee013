//! Redis 7 error texts, each spelled once. Commands return these as
//! `Reply::Error`; tests compare them byte for byte with redis-server.

use super::Reply;

pub const SYNTAX: &str = "ERR syntax error";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const NOAUTH: &str = "NOAUTH Authentication required.";
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
pub const AUTH_NOT_CONFIGURED: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
pub const DB_RANGE: &str = "ERR DB index is out of range";
pub const STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
pub const INVALID_CURSOR: &str = "ERR invalid cursor";
pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
pub const MAX_CLIENTS: &str = "ERR max number of clients reached";
pub const INCR_NAN: &str = "ERR increment would produce NaN or Infinity";
pub const OFFSET_RANGE: &str = "ERR offset is out of range";
pub const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
pub const DECR_OVERFLOW: &str = "ERR decrement would overflow";
pub const LCS_NOT_STRINGS: &str = "ERR The specified keys must contain string values";
pub const LCS_IDX_AND_LEN: &str =
    "ERR If you want both the length and indexes, please just use IDX.";
pub const LCS_TOO_LONG: &str = "ERR String too long for LCS";
pub const LCS_OVER_LIMIT: &str =
    "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";
pub const LCS_NO_MEMORY: &str =
    "ERR Insufficient memory, failed allocating transient memory for LCS";

/// `ERR wrong number of arguments for 'get' command`
pub fn wrong_args(name: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{}' command",
        name.to_lowercase()
    ))
}

/// `ERR invalid expire time in 'set' command`
pub fn invalid_expire(name: &str) -> Reply {
    Reply::error(format!(
        "ERR invalid expire time in '{}' command",
        name.to_lowercase()
    ))
}

/// `ERR unknown command 'foo', with args beginning with: 'a' 'b' `
pub fn unknown_command(name: &[u8], args: &[impl AsRef<[u8]>]) -> Reply {
    let mut s = format!(
        "ERR unknown command '{}', with args beginning with: ",
        show(name, 128)
    );
    for a in args.iter().take(16) {
        s.push_str(&format!("'{}' ", show(a.as_ref(), 128)));
    }
    Reply::error(s)
}

/// `ERR unknown subcommand or wrong number of arguments for 'get'. Try
/// SLOWLOG HELP.`: a known subcommand given the wrong arguments.
pub fn sub_wrong_args(cmd: &str, sub: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        show(sub, 128),
        cmd.to_uppercase()
    ))
}

/// `ERR unknown subcommand 'x'. Try CONFIG HELP.`
pub fn unknown_subcommand(cmd: &str, sub: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        show(sub, 128),
        cmd.to_uppercase()
    ))
}

/// Printable, length-capped form of client input for error texts (Redis
/// replaces newlines with spaces so the error stays one line).
fn show(b: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&b[..b.len().min(max)])
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

pub fn err(text: &'static str) -> Reply {
    Reply::error(text)
}

// Generic keyspace family (keys.rs).
pub const EXPIRE_NX_AND_OTHERS: &str =
    "ERR NX and XX, GT or LT options at the same time are not compatible";
pub const EXPIRE_GT_AND_LT: &str = "ERR GT and LT options at the same time are not compatible";
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
pub const LFU_SELECTED: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
pub const LFU_NOT_SELECTED: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

// Server family (server.rs).
pub const INVALID_COMMAND: &str = "ERR Invalid command specified";
pub const NO_KEY_ARGS: &str = "ERR The command has no key arguments";
pub const INVALID_GETKEYS_ARITY: &str = "ERR Invalid number of arguments specified for command";
pub const INVALID_GETKEYS_ARGS: &str = "ERR Invalid arguments specified for command";
pub const INVALID_FIRST_DB: &str = "ERR invalid first DB index";
pub const INVALID_SECOND_DB: &str = "ERR invalid second DB index";
pub const NO_SHUTDOWN_IN_PROGRESS: &str = "ERR No shutdown in progress.";
pub const SHUTDOWN_FAILED: &str = "ERR Errors trying to SHUTDOWN. Check logs.";

// Hash family (hashes.rs).
pub const HASH_NOT_INTEGER: &str = "ERR hash value is not an integer";
pub const HASH_NOT_FLOAT: &str = "ERR hash value is not a float";
pub const HASH_INCR_NAN_OR_INF: &str = "ERR value is NaN or Infinity";

// Sorted set family (zsets.rs).
pub const ZSET_NAN: &str = "ERR resulting score is not a number (NaN)";
pub const ZADD_XX_NX: &str = "ERR XX and NX options at the same time are not compatible";
pub const ZADD_GT_LT_NX: &str = "ERR GT, LT, and/or NX options at the same time are not compatible";
pub const ZADD_INCR_PAIR: &str = "ERR INCR option supports a single increment-element pair";
pub const ZSET_MIN_MAX_FLOAT: &str = "ERR min or max is not a float";
pub const ZSET_MIN_MAX_LEX: &str = "ERR min or max not valid string range item";
pub const ZSET_LIMIT_RANK: &str =
    "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX";
pub const ZSET_WITHSCORES_LEX: &str =
    "ERR syntax error, WITHSCORES not supported in combination with BYLEX";
pub const ZSET_WEIGHT_FLOAT: &str = "ERR weight value is not a float";

// Set family (sets.rs).
pub const SET_NUMKEYS_TOO_MANY: &str = "ERR Number of keys can't be greater than number of args";

// List family and blocking commands (lists.rs, blocking.rs).
pub const TIMEOUT_NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
pub const LIST_INDEX_OUT_OF_RANGE: &str = "ERR index out of range";
pub const LPOS_RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
pub const LPOS_COUNT_NEGATIVE: &str = "ERR COUNT can't be negative";
pub const LPOS_MAXLEN_NEGATIVE: &str = "ERR MAXLEN can't be negative";

// Shared by several collection families.
pub const VALUE_OUT_OF_RANGE: &str = "ERR value is out of range";
pub const MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";
pub const NUMKEYS_POSITIVE: &str = "ERR numkeys should be greater than 0";
pub const COUNT_POSITIVE: &str = "ERR count should be greater than 0";
pub const LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";

pub const LOADING: &str = "LOADING Redis is loading the dataset in memory";
pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";
pub const BGSAVE_IN_PROGRESS: &str = "ERR Background save already in progress";
pub const AOF_REWRITE_ACTIVE: &str = "ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.";
