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
    /// Bytes, or a percentage of `maxmemory` (`10%`), kept as its negative.
    MemoryOrPercent,
    /// One of the listed words.
    Enum(&'static [&'static str]),
    /// Free text (one argument).
    Str,
    /// A file or directory name in `dir`, not a path.
    FileName,
    /// One or more words, kept space separated (`bind 127.0.0.1 ::1`).
    List,
    /// `client-output-buffer-limit`: `<class> <hard> <soft> <seconds>`
    /// groups; a setting changes only the classes it names.
    OutputLimits,
    /// `notify-keyspace-events` letters, kept as a bit set.
    EventFlags,
    /// `save`: `<seconds> <changes>` pairs, or `""` for none.
    SaveParams,
}

impl Kind {
    /// Whether the value is several words (split on spaces when set).
    pub fn is_words(self) -> bool {
        matches!(self, Kind::List | Kind::OutputLimits | Kind::SaveParams)
    }
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
/// `maxmemory-policy` values, in Redis's order (its error message lists them
/// so); `storage::evict::Policy` follows the same order.
pub const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

options! {
    Bind: "bind", Kind::List, "* -::*", FIXED;
    Port: "port", Kind::Int { min: 0, max: 65535 }, "6379", FIXED;
    Threads: "threads", Kind::Int { min: 0, max: 1024 }, "0", FIXED;
    Dir: "dir", Kind::Str, ".", MUTABLE;
    Databases: "databases", Kind::Int { min: 1, max: INT }, "16", FIXED;
    Requirepass: "requirepass", Kind::Str, "", MUTABLE;
    Maxclients: "maxclients", Kind::Int { min: 1, max: u32::MAX as i64 }, "10000", MUTABLE;
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
    ClientOutputBufferLimit: "client-output-buffer-limit", Kind::OutputLimits, "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60", MUTABLE;
    NotifyKeyspaceEvents: "notify-keyspace-events", Kind::EventFlags, "", MUTABLE;
    BusyReplyThreshold: "busy-reply-threshold", Kind::Int { min: 0, max: i64::MAX }, "5000", MUTABLE;
    TrackingTableMaxKeys: "tracking-table-max-keys", Kind::Int { min: 0, max: i64::MAX }, "1000000", MUTABLE;
    Save: "save", Kind::SaveParams, "3600 1 300 100 60 10000", MUTABLE;
    Dbfilename: "dbfilename", Kind::FileName, "dump.rdb", MUTABLE;
    Rdbcompression: "rdbcompression", Kind::Bool, "yes", MUTABLE;
    Rdbchecksum: "rdbchecksum", Kind::Bool, "yes", FIXED;
    StopWritesOnBgsaveError: "stop-writes-on-bgsave-error", Kind::Bool, "yes", MUTABLE;
    RdbDelSyncFiles: "rdb-del-sync-files", Kind::Bool, "no", MUTABLE;
    RdbSaveIncrementalFsync: "rdb-save-incremental-fsync", Kind::Bool, "yes", MUTABLE;
    Appendonly: "appendonly", Kind::Bool, "no", MUTABLE;
    Appendfilename: "appendfilename", Kind::FileName, "appendonly.aof", FIXED;
    Appenddirname: "appenddirname", Kind::FileName, "appendonlydir", FIXED;
    Appendfsync: "appendfsync", Kind::Enum(&["always", "everysec", "no"]), "everysec", MUTABLE;
    NoAppendfsyncOnRewrite: "no-appendfsync-on-rewrite", Kind::Bool, "no", MUTABLE;
    AutoAofRewritePercentage: "auto-aof-rewrite-percentage", Kind::Int { min: 0, max: INT }, "100", MUTABLE;
    AutoAofRewriteMinSize: "auto-aof-rewrite-min-size", Kind::Memory { min: 0, max: i64::MAX }, "67108864", MUTABLE;
    AofLoadTruncated: "aof-load-truncated", Kind::Bool, "yes", MUTABLE;
    // AOF bases are always RDB, and the AOF has no timestamp annotations:
    // the other values are refused rather than silently ignored.
    AofUseRdbPreamble: "aof-use-rdb-preamble", Kind::Enum(&["yes"]), "yes", MUTABLE;
    AofTimestampEnabled: "aof-timestamp-enabled", Kind::Enum(&["no"]), "no", MUTABLE;
    AofRewriteIncrementalFsync: "aof-rewrite-incremental-fsync", Kind::Bool, "yes", MUTABLE;
    Maxmemory: "maxmemory", Kind::Memory { min: 0, max: i64::MAX }, "0", MUTABLE;
    MaxmemoryPolicy: "maxmemory-policy", Kind::Enum(POLICIES), "noeviction", MUTABLE;
    MaxmemorySamples: "maxmemory-samples", Kind::Int { min: 1, max: INT }, "5", MUTABLE;
    MaxmemoryEvictionTenacity: "maxmemory-eviction-tenacity", Kind::Int { min: 0, max: 100 }, "10", MUTABLE;
    LfuLogFactor: "lfu-log-factor", Kind::Int { min: 0, max: INT }, "10", MUTABLE;
    LfuDecayTime: "lfu-decay-time", Kind::Int { min: 0, max: INT }, "1", MUTABLE;

    // Process and supervision (src/lifecycle.rs).
    Daemonize: "daemonize", Kind::Bool, "no", FIXED;
    Supervised: "supervised", Kind::Enum(&["upstart", "systemd", "auto", "no"]), "no", FIXED;
    DisableThp: "disable-thp", Kind::Bool, "yes", FIXED;
    OomScoreAdj: "oom-score-adj", Kind::Enum(&["no", "yes", "relative", "absolute"]), "no", MUTABLE;
    OomScoreAdjValues: "oom-score-adj-values", Kind::List, "0 200 800", MUTABLE;
    ShutdownOnSigint: "shutdown-on-sigint", Kind::Str, "default", MUTABLE;
    ShutdownOnSigterm: "shutdown-on-sigterm", Kind::Str, "default", MUTABLE;
    ShutdownTimeout: "shutdown-timeout", Kind::Int { min: 0, max: INT }, "10", MUTABLE;
    HllSparseMaxBytes: "hll-sparse-max-bytes", Kind::Memory { min: 0, max: i64::MAX }, "3000", MUTABLE;
    // Accepted with no effect: they tune how Redis uses memory, threads,
    // its allocator or its title, or features with nothing to tune here;
    // replies and data are the same whatever they say (README lists them).
    AlwaysShowLogo: "always-show-logo", Kind::Bool, "no", FIXED;
    SetProcTitle: "set-proc-title", Kind::Bool, "yes", FIXED;
    ProcTitleTemplate: "proc-title-template", Kind::Str, "{title} {listen-addr} {server-mode}", MUTABLE;
    Activerehashing: "activerehashing", Kind::Bool, "yes", MUTABLE;
    DynamicHz: "dynamic-hz", Kind::Bool, "yes", MUTABLE;
    JemallocBgThread: "jemalloc-bg-thread", Kind::Bool, "yes", MUTABLE;
    LazyfreeLazyEviction: "lazyfree-lazy-eviction", Kind::Bool, "no", MUTABLE;
    LazyfreeLazyExpire: "lazyfree-lazy-expire", Kind::Bool, "no", MUTABLE;
    LazyfreeLazyServerDel: "lazyfree-lazy-server-del", Kind::Bool, "no", MUTABLE;
    LazyfreeLazyUserDel: "lazyfree-lazy-user-del", Kind::Bool, "no", MUTABLE;
    LazyfreeLazyUserFlush: "lazyfree-lazy-user-flush", Kind::Bool, "no", MUTABLE;
    ActiveExpireEffort: "active-expire-effort", Kind::Int { min: 1, max: 10 }, "1", MUTABLE;
    Activedefrag: "activedefrag", Kind::Bool, "no", MUTABLE;
    ActiveDefragIgnoreBytes: "active-defrag-ignore-bytes", Kind::Memory { min: 1, max: i64::MAX }, "104857600", MUTABLE;
    ActiveDefragThresholdLower: "active-defrag-threshold-lower", Kind::Int { min: 0, max: 1000 }, "10", MUTABLE;
    ActiveDefragThresholdUpper: "active-defrag-threshold-upper", Kind::Int { min: 0, max: 1000 }, "100", MUTABLE;
    ActiveDefragCycleMin: "active-defrag-cycle-min", Kind::Int { min: 1, max: 99 }, "1", MUTABLE;
    ActiveDefragCycleMax: "active-defrag-cycle-max", Kind::Int { min: 1, max: 99 }, "25", MUTABLE;
    ActiveDefragMaxScanFields: "active-defrag-max-scan-fields", Kind::Int { min: 1, max: i64::MAX }, "1000", MUTABLE;
    IoThreads: "io-threads", Kind::Int { min: 1, max: 128 }, "1", FIXED;
    IoThreadsDoReads: "io-threads-do-reads", Kind::Bool, "no", FIXED;
    ListCompressDepth: "list-compress-depth", Kind::Int { min: 0, max: INT }, "0", MUTABLE;
    StreamNodeMaxBytes: "stream-node-max-bytes", Kind::Memory { min: 0, max: i64::MAX }, "4096", MUTABLE;
    StreamNodeMaxEntries: "stream-node-max-entries", Kind::Int { min: 0, max: i64::MAX }, "100", MUTABLE;
    CrashLogEnabled: "crash-log-enabled", Kind::Bool, "yes", MUTABLE;
    CrashMemcheckEnabled: "crash-memcheck-enabled", Kind::Bool, "yes", MUTABLE;
    IgnoreWarnings: "ignore-warnings", Kind::Str, "", MUTABLE;
    SanitizeDumpPayload: "sanitize-dump-payload", Kind::Enum(&["no", "yes", "clients"]), "no", MUTABLE;
    LatencyMonitorThreshold: "latency-monitor-threshold", Kind::Int { min: 0, max: i64::MAX }, "0", MUTABLE;
    LatencyTracking: "latency-tracking", Kind::Bool, "yes", MUTABLE;
    LatencyTrackingInfoPercentiles: "latency-tracking-info-percentiles", Kind::List, "50 99 99.9", MUTABLE;
    SlowlogLogSlowerThan: "slowlog-log-slower-than", Kind::Int { min: -1, max: i64::MAX }, "10000", MUTABLE;
    SlowlogMaxLen: "slowlog-max-len", Kind::Int { min: 0, max: i64::MAX }, "128", MUTABLE;
    AcllogMaxLen: "acllog-max-len", Kind::Int { min: 0, max: i64::MAX }, "128", MUTABLE;
    AclPubsubDefault: "acl-pubsub-default", Kind::Enum(&["allchannels", "resetchannels"]), "resetchannels", MUTABLE;
    Aclfile: "aclfile", Kind::Str, "", FIXED;
    SyslogIdent: "syslog-ident", Kind::Str, "redis", FIXED;
    SyslogFacility: "syslog-facility", Kind::Enum(&["user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"]), "local0", FIXED;
    // Features Redwing does not have: only the value that leaves them off
    // is accepted (see ONLY_DEFAULT), so no config claims what is not done.
    SyslogEnabled: "syslog-enabled", Kind::Bool, "no", FIXED;
    Unixsocket: "unixsocket", Kind::Str, "", FIXED;
    Unixsocketperm: "unixsocketperm", Kind::Str, "0", FIXED;
    SocketMarkId: "socket-mark-id", Kind::Int { min: 0, max: u32::MAX as i64 }, "0", FIXED;
    MaxmemoryClients: "maxmemory-clients", Kind::MemoryOrPercent, "0", MUTABLE;
    ServerCpulist: "server_cpulist", Kind::Str, "", FIXED;
    BioCpulist: "bio_cpulist", Kind::Str, "", FIXED;
    AofRewriteCpulist: "aof_rewrite_cpulist", Kind::Str, "", FIXED;
    BgsaveCpulist: "bgsave_cpulist", Kind::Str, "", FIXED;
    AofDisableAutoGc: "aof-disable-auto-gc", Kind::Bool, "no", MUTABLE;
    TlsPort: "tls-port", Kind::Int { min: 0, max: 65535 }, "0", MUTABLE;
    TlsReplication: "tls-replication", Kind::Bool, "no", MUTABLE;
    TlsCluster: "tls-cluster", Kind::Bool, "no", MUTABLE;
    TlsAuthClients: "tls-auth-clients", Kind::Enum(&["no", "yes", "optional"]), "yes", MUTABLE;
    TlsCertFile: "tls-cert-file", Kind::Str, "", MUTABLE;
    TlsKeyFile: "tls-key-file", Kind::Str, "", MUTABLE;
    TlsKeyFilePass: "tls-key-file-pass", Kind::Str, "", MUTABLE;
    TlsClientCertFile: "tls-client-cert-file", Kind::Str, "", MUTABLE;
    TlsClientKeyFile: "tls-client-key-file", Kind::Str, "", MUTABLE;
    TlsClientKeyFilePass: "tls-client-key-file-pass", Kind::Str, "", MUTABLE;
    TlsDhParamsFile: "tls-dh-params-file", Kind::Str, "", MUTABLE;
    TlsCaCertFile: "tls-ca-cert-file", Kind::Str, "", MUTABLE;
    TlsCaCertDir: "tls-ca-cert-dir", Kind::Str, "", MUTABLE;
    TlsProtocols: "tls-protocols", Kind::Str, "", MUTABLE;
    TlsCiphers: "tls-ciphers", Kind::Str, "", MUTABLE;
    TlsCiphersuites: "tls-ciphersuites", Kind::Str, "", MUTABLE;
    TlsPreferServerCiphers: "tls-prefer-server-ciphers", Kind::Bool, "no", MUTABLE;
    TlsSessionCaching: "tls-session-caching", Kind::Bool, "yes", MUTABLE;
    TlsSessionCacheSize: "tls-session-cache-size", Kind::Int { min: 0, max: INT }, "20480", MUTABLE;
    TlsSessionCacheTimeout: "tls-session-cache-timeout", Kind::Int { min: 0, max: INT }, "300", MUTABLE;
    ClusterEnabled: "cluster-enabled", Kind::Bool, "no", FIXED;
    ClusterConfigFile: "cluster-config-file", Kind::Str, "nodes.conf", FIXED;
    ClusterPort: "cluster-port", Kind::Int { min: 0, max: 65535 }, "0", FIXED;
    ClusterNodeTimeout: "cluster-node-timeout", Kind::Int { min: 0, max: i64::MAX }, "15000", MUTABLE;
    ClusterMigrationBarrier: "cluster-migration-barrier", Kind::Int { min: 0, max: INT }, "1", MUTABLE;
    ClusterReplicaValidityFactor: "cluster-replica-validity-factor", Kind::Int { min: 0, max: INT }, "10", MUTABLE;
    ClusterRequireFullCoverage: "cluster-require-full-coverage", Kind::Bool, "yes", MUTABLE;
    ClusterReplicaNoFailover: "cluster-replica-no-failover", Kind::Bool, "no", MUTABLE;
    ClusterAllowReadsWhenDown: "cluster-allow-reads-when-down", Kind::Bool, "no", MUTABLE;
    ClusterAllowPubsubshardWhenDown: "cluster-allow-pubsubshard-when-down", Kind::Bool, "yes", MUTABLE;
    ClusterAllowReplicaMigration: "cluster-allow-replica-migration", Kind::Bool, "yes", MUTABLE;
    ClusterAnnounceIp: "cluster-announce-ip", Kind::Str, "", MUTABLE;
    ClusterAnnounceHostname: "cluster-announce-hostname", Kind::Str, "", MUTABLE;
    ClusterAnnouncePort: "cluster-announce-port", Kind::Int { min: 0, max: 65535 }, "0", MUTABLE;
    ClusterAnnounceBusPort: "cluster-announce-bus-port", Kind::Int { min: 0, max: 65535 }, "0", MUTABLE;
    ClusterAnnounceTlsPort: "cluster-announce-tls-port", Kind::Int { min: 0, max: 65535 }, "0", MUTABLE;
    ClusterPreferredEndpointType: "cluster-preferred-endpoint-type", Kind::Enum(&["ip", "hostname", "unknown-endpoint"]), "ip", MUTABLE;
    ClusterLinkSendbufLimit: "cluster-link-sendbuf-limit", Kind::Memory { min: 0, max: i64::MAX }, "0", MUTABLE;
    // Replication. The master side reads the repl-* options, the replica
    // side `replicaof` (set by REPLICAOF too), masterauth/masteruser and
    // the replica-* ones.
    Replicaof: "replicaof", Kind::List, "", FIXED;
    Masterauth: "masterauth", Kind::Str, "", MUTABLE;
    Masteruser: "masteruser", Kind::Str, "", MUTABLE;
    ReplicaServeStaleData: "replica-serve-stale-data", Kind::Bool, "yes", MUTABLE;
    ReplicaReadOnly: "replica-read-only", Kind::Bool, "yes", MUTABLE;
    ReplicaLazyFlush: "replica-lazy-flush", Kind::Bool, "no", MUTABLE;
    ReplicaPriority: "replica-priority", Kind::Int { min: 0, max: INT }, "100", MUTABLE;
    ReplicaAnnounced: "replica-announced", Kind::Bool, "yes", MUTABLE;
    ReplicaAnnounceIp: "replica-announce-ip", Kind::Str, "", MUTABLE;
    ReplicaAnnouncePort: "replica-announce-port", Kind::Int { min: 0, max: 65535 }, "0", MUTABLE;
    ReplicaIgnoreMaxmemory: "replica-ignore-maxmemory", Kind::Bool, "yes", MUTABLE;
    ReplicaIgnoreDiskWriteErrors: "replica-ignore-disk-write-errors", Kind::Bool, "no", MUTABLE;
    ReplDisklessSync: "repl-diskless-sync", Kind::Bool, "yes", MUTABLE;
    ReplDisklessSyncDelay: "repl-diskless-sync-delay", Kind::Int { min: 0, max: INT }, "5", MUTABLE;
    ReplDisklessSyncMaxReplicas: "repl-diskless-sync-max-replicas", Kind::Int { min: 0, max: INT }, "0", MUTABLE;
    ReplDisklessLoad: "repl-diskless-load", Kind::Enum(&["disabled", "on-empty-db", "swapdb"]), "disabled", MUTABLE;
    ReplDisableTcpNodelay: "repl-disable-tcp-nodelay", Kind::Bool, "no", MUTABLE;
    ReplBacklogSize: "repl-backlog-size", Kind::Memory { min: 1, max: i64::MAX }, "1048576", MUTABLE;
    ReplBacklogTtl: "repl-backlog-ttl", Kind::Int { min: 0, max: INT }, "3600", MUTABLE;
    ReplTimeout: "repl-timeout", Kind::Int { min: 1, max: INT }, "60", MUTABLE;
    ReplPingReplicaPeriod: "repl-ping-replica-period", Kind::Int { min: 1, max: INT }, "10", MUTABLE;
    MinReplicasToWrite: "min-replicas-to-write", Kind::Int { min: 0, max: INT }, "0", MUTABLE;
    MinReplicasMaxLag: "min-replicas-max-lag", Kind::Int { min: 0, max: INT }, "10", MUTABLE;
    PropagationErrorBehavior: "propagation-error-behavior", Kind::Enum(&["ignore", "panic", "panic-on-replicas"]), "ignore", MUTABLE;
    BindSourceAddr: "bind-source-addr", Kind::Str, "", MUTABLE;
    // Redis can refuse DEBUG and CONFIG SET of protected options (dir,
    // dbfilename ...); Redwing always allows both, so it says so, and it
    // has no MODULE command. Only the value that describes it is accepted.
    EnableDebugCommand: "enable-debug-command", Kind::Enum(&["yes"]), "yes", FIXED;
    EnableProtectedConfigs: "enable-protected-configs", Kind::Enum(&["yes"]), "yes", FIXED;
    EnableModuleCommand: "enable-module-command", Kind::Enum(&["no"]), "no", FIXED;
}

/// Older option names (Redis 6 ziplist names) that configs still use.
pub const ALIASES: &[(&str, &str)] = &[
    ("list-max-ziplist-size", "list-max-listpack-size"),
    ("hash-max-ziplist-entries", "hash-max-listpack-entries"),
    ("hash-max-ziplist-value", "hash-max-listpack-value"),
    ("zset-max-ziplist-entries", "zset-max-listpack-entries"),
    ("zset-max-ziplist-value", "zset-max-listpack-value"),
    ("lua-time-limit", "busy-reply-threshold"),
    ("slaveof", "replicaof"),
    ("slave-serve-stale-data", "replica-serve-stale-data"),
    ("slave-read-only", "replica-read-only"),
    ("slave-lazy-flush", "replica-lazy-flush"),
    ("slave-priority", "replica-priority"),
    ("slave-announce-ip", "replica-announce-ip"),
    ("slave-announce-port", "replica-announce-port"),
    ("slave-ignore-maxmemory", "replica-ignore-maxmemory"),
    ("repl-ping-slave-period", "repl-ping-replica-period"),
    ("min-slaves-to-write", "min-replicas-to-write"),
    ("min-slaves-max-lag", "min-replicas-max-lag"),
    (
        "cluster-slave-validity-factor",
        "cluster-replica-validity-factor",
    ),
    ("cluster-slave-no-failover", "cluster-replica-no-failover"),
];

/// Options of features Redwing does not have: only the value that leaves
/// the feature off is accepted, with this reason for any other.
pub const ONLY_DEFAULT: &[(&str, &str)] = &[
    ("syslog-enabled", "logging to syslog"),
    ("unixsocket", "unix sockets"),
    ("socket-mark-id", "socket marks"),
    ("server_cpulist", "CPU lists (use taskset and `threads`)"),
    ("bio_cpulist", "CPU lists (use taskset and `threads`)"),
    (
        "aof_rewrite_cpulist",
        "CPU lists (use taskset and `threads`)",
    ),
    ("bgsave_cpulist", "CPU lists (use taskset and `threads`)"),
    ("aof-disable-auto-gc", "keeping old AOF files"),
    ("activedefrag", "active defragmentation"),
    ("tls-port", "TLS"),
    ("tls-replication", "TLS"),
    ("tls-cluster", "TLS"),
    ("shutdown-on-sigint", "shutdown flags on signals"),
    ("shutdown-on-sigterm", "shutdown flags on signals"),
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
    if !def.kind.is_words() && args.len() != 1 {
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
        Kind::MemoryOrPercent => {
            let n = match v.strip_suffix('%') {
                Some(p) => p.parse::<i64>().ok().filter(|n| *n >= 0).map(|n| -n),
                None => parse_memory(v).filter(|n| *n >= 0),
            }
            .ok_or_else(|| "argument must be a memory or percent value".to_string())?;
            if n < -100 {
                return Err("percentage argument must be less or equal to 100".into());
            }
            let text = if n < 0 {
                format!("{}%", -n)
            } else {
                n.to_string()
            };
            Ok((text, n))
        }
        Kind::Enum(words) => match words.iter().position(|w| w.eq_ignore_ascii_case(v)) {
            Some(i) => Ok((words[i].to_string(), i as i64)),
            None => Err(format!(
                "argument(s) must be one of the following: {}",
                words.join(", ")
            )),
        },
        Kind::Str => Ok((v.to_string(), 0)),
        Kind::FileName if v.contains('/') => {
            let what = if def.name.ends_with("dirname") {
                "directory name"
            } else {
                "filename"
            };
            Err(format!("{} can't be a path, just a {what}", def.name))
        }
        Kind::FileName => Ok((v.to_string(), 0)),
        Kind::List => Ok((args.join(" "), 0)),
        Kind::OutputLimits => {
            let limits = output_limits(args)?;
            let text = CLASSES
                .iter()
                .zip(limits)
                .map(|(c, [h, s, t])| format!("{c} {h} {s} {t}"))
                .collect::<Vec<_>>()
                .join(" ");
            Ok((text, 0))
        }
        Kind::SaveParams => {
            let pairs = save_params(&args.join(" ")).ok_or("Invalid save parameters")?;
            let text = pairs
                .iter()
                .map(|(s, c)| format!("{s} {c}"))
                .collect::<Vec<_>>()
                .join(" ");
            Ok((text, 0))
        }
        Kind::EventFlags => {
            let flags = events::parse(v).ok_or_else(|| {
                "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string()
            })?;
            Ok((events::format(flags), flags as i64))
        }
    }
}

/// `save` pairs `(seconds, changes)`; None if malformed. Empty text (or
/// `save ""`) is no rules.
pub fn save_params(text: &str) -> Option<Vec<(u64, u64)>> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if !words.len().is_multiple_of(2) {
        return None;
    }
    words
        .chunks(2)
        .map(|p| Some((p[0].parse().ok()?, p[1].parse().ok()?)))
        .collect()
}

/// Output buffer classes in the order CONFIG GET shows them.
pub const CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];

/// Reads `<class> <hard> <soft> <seconds>` groups over the built-in
/// defaults (later groups win) into `[hard, soft, seconds]` per class.
pub fn output_limits(words: &[String]) -> Result<[[u64; 3]; 3], String> {
    let mut out = [
        [0, 0, 0],
        [268435456, 67108864, 60],
        [33554432, 8388608, 60],
    ];
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    for g in words.chunks(4) {
        let class = match g[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let bad = || "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
        let hard = parse_memory(&g[1]).filter(|n| *n >= 0).ok_or_else(bad)?;
        let soft = parse_memory(&g[2]).filter(|n| *n >= 0).ok_or_else(bad)?;
        let secs: i64 = g[3].parse().ok().filter(|n| *n >= 0).ok_or_else(bad)?;
        out[class] = [hard as u64, soft as u64, secs as u64];
    }
    Ok(out)
}

/// Keyspace notification classes (`notify-keyspace-events` letters).
pub mod events {
    pub const KEYSPACE: u32 = 1 << 0; // K
    pub const KEYEVENT: u32 = 1 << 1; // E
    pub const GENERIC: u32 = 1 << 2; // g
    pub const STRING: u32 = 1 << 3; // $
    pub const LIST: u32 = 1 << 4; // l
    pub const SET: u32 = 1 << 5; // s
    pub const HASH: u32 = 1 << 6; // h
    pub const ZSET: u32 = 1 << 7; // z
    pub const EXPIRED: u32 = 1 << 8; // x
    pub const EVICTED: u32 = 1 << 9; // e
    pub const STREAM: u32 = 1 << 10; // t
    pub const MODULE: u32 = 1 << 11; // d
    pub const NEW: u32 = 1 << 12; // n
    pub const KEY_MISS: u32 = 1 << 13; // m
    /// `A`: every class but key-miss and new.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

    /// Class letters in the order Redis prints them.
    const LETTERS: [(char, u32); 11] = [
        ('g', GENERIC),
        ('$', STRING),
        ('l', LIST),
        ('s', SET),
        ('h', HASH),
        ('z', ZSET),
        ('x', EXPIRED),
        ('e', EVICTED),
        ('t', STREAM),
        ('d', MODULE),
        ('n', NEW),
    ];

    pub fn parse(s: &str) -> Option<u32> {
        let mut flags = 0;
        for c in s.chars() {
            flags |= match c {
                'A' => ALL,
                'K' => KEYSPACE,
                'E' => KEYEVENT,
                'm' => KEY_MISS,
                _ => LETTERS.iter().find(|(l, _)| *l == c)?.1,
            };
        }
        Some(flags)
    }

    /// As Redis shows it: `A` when all classes are on (then `n` is not
    /// shown, as in Redis 7.0), else the letters; then K, E, m.
    pub fn format(flags: u32) -> String {
        let mut s = String::new();
        if flags & ALL == ALL {
            s.push('A');
        } else {
            s.extend(
                LETTERS
                    .iter()
                    .filter(|(_, b)| flags & b != 0)
                    .map(|(c, _)| *c),
            );
        }
        for (c, b) in [('K', KEYSPACE), ('E', KEYEVENT), ('m', KEY_MISS)] {
            if flags & b != 0 {
                s.push(c);
            }
        }
        s
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
            let args = if o.kind.is_words() {
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
    fn event_flags_show_as_redis() {
        for (set, shown) in [
            ("KEA", "AKE"),
            ("Ex", "xE"),
            ("zA", "A"),
            ("nKm", "nKm"),
            ("An", "A"),
        ] {
            assert_eq!(events::format(events::parse(set).unwrap()), shown);
        }
        assert_eq!(events::parse("KQ"), None);
    }

    #[test]
    fn output_limits_merge_classes() {
        let w = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let l = output_limits(&w("replica 1mb 1kb 5 pubsub 10 10 10")).unwrap();
        assert_eq!(l, [[0, 0, 0], [1 << 20, 1024, 5], [10, 10, 10]]);
        assert!(output_limits(&w("pubsub 1mb 512kb")).is_err());
        assert!(output_limits(&w("foo 1 1 1")).is_err());
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("512mb"), Some(512 << 20));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1GB"), Some(1 << 30));
        assert_eq!(parse_memory("12x"), None);
    }
}
