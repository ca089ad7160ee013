//! `redwing-server [config-file] [--option value ...]`

use redwing::config::{self, Opt};
use redwing::{lifecycle, logging, runtime, server, syscheck};

#[global_allocator]
static ALLOC: redwing::memory::Counting = redwing::memory::Counting;

fn usage() {
    println!(
        "Usage: ./redwing-server [/path/to/redis.conf] [options] [-]\n       ./redwing-server - (read config from stdin)\n       ./redwing-server -v or --version\n       ./redwing-server -h or --help\n\nExamples:\n       ./redwing-server (run the server with default conf)\n       ./redwing-server /etc/redis/6379.conf\n       ./redwing-server --port 7777\n       ./redwing-server --port 7777 --threads 2\n       ./redwing-server /etc/myredis.conf --loglevel verbose"
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = config::parse_cmdline(&args);
    if cmd.version {
        println!(
            "Redwing server v={} redis-compat={} bits=64",
            redwing::VERSION,
            redwing::commands::server::REDIS_VERSION
        );
        return;
    }
    if cmd.help {
        usage();
        return;
    }
    // Sentinel mode: --sentinel, or started as redwing-sentinel (a link).
    let sentinel = cmd.sentinel
        || std::env::args()
            .next()
            .is_some_and(|a0| a0.ends_with("redwing-sentinel"));
    if sentinel {
        redwing::sentinel::enable();
    }
    if let Err(e) = config::load(cmd.file.as_deref(), &cmd.lines) {
        eprintln!("{e}");
        std::process::exit(1);
    }
    if let Err(e) = redwing::acl::file::init() {
        eprintln!("Aborting Redis startup because of ACL errors: {e}");
        std::process::exit(1);
    }
    if sentinel {
        if let Err(e) = redwing::sentinel::config::check_file(config::file().as_deref()) {
            eprintln!("{e}");
            std::process::exit(1);
        }
        logging::set_role('X');
    }
    if let Err(e) = logging::init() {
        eprintln!("{e}");
        std::process::exit(1);
    }
    let cpus = runtime::allowed_cpus();
    let threads = match config::num(Opt::Threads) {
        // A sentinel's work is on the control executor; one shard serves
        // its clients.
        _ if sentinel => 1,
        0 => cpus.len(),
        n => n as usize,
    };
    let checks = syscheck::run(threads);
    if cmd.check_system {
        std::process::exit(if syscheck::print(&checks) { 0 } else { 2 });
    }
    // Before any thread exists: a fork keeps only the calling thread.
    if config::num(Opt::Daemonize) == 1 {
        if let Err(e) = lifecycle::daemonize() {
            eprintln!("redwing-server: {e}");
            std::process::exit(1);
        }
    }
    lifecycle::supervise_upstart();
    lifecycle::disable_thp();
    if let Err(e) = lifecycle::apply_oom_score_adj() {
        tracing::warn!("{e}");
        eprintln!("redwing-server: {e}");
        std::process::exit(1);
    }
    if let Err(e) = runtime::preflight() {
        tracing::warn!("{e}");
        eprintln!("redwing-server: {e}");
        std::process::exit(1);
    }
    let addrs = match server::bind_addrs() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let required: Vec<_> = addrs
        .iter()
        .filter(|a| !a.optional)
        .map(|a| a.addr)
        .collect();
    if let Err(e) = lifecycle::lock_addresses(&required)
        .and_then(|_| lifecycle::write_pidfile(&config::text(Opt::Pidfile)))
    {
        tracing::warn!("{e}");
        eprintln!("redwing-server: {e}");
        std::process::exit(1);
    }
    lifecycle::handle_signals();
    tracing::info!("oO0OoO0OoO0Oo Redwing is starting oO0OoO0OoO0Oo");
    tracing::info!(
        "Redwing version={}, redis-compat={}, bits=64, pid={}, just started",
        redwing::VERSION,
        redwing::commands::server::REDIS_VERSION,
        std::process::id()
    );
    match &cmd.file {
        Some(f) => tracing::info!("Configuration loaded from {}", f.display()),
        None => tracing::warn!("Warning: no config file specified, using the default config. In order to specify a config file use redwing-server /path/to/redis.conf"),
    }
    tracing::info!(
        "Running mode={}, port={}, threads={} (cpus {:?}), pid={}.",
        if sentinel {
            "sentinel"
        } else if config::num(Opt::ClusterEnabled) == 1 {
            "cluster"
        } else {
            "standalone"
        },
        config::num(Opt::Port),
        threads,
        &cpus[..threads.min(cpus.len())],
        std::process::id()
    );
    syscheck::log_warnings(&checks);
    if !sentinel {
        redwing::persistence::load::prepare();
    }
    if let Err(e) = redwing::cluster::init(threads) {
        tracing::warn!("{e}");
        eprintln!("redwing-server: {e}");
        lifecycle::exit(1);
    }
    if let Err(e) = runtime::start(
        threads,
        &cpus,
        server::shard_init,
        server::shard_main,
        server::control_main,
    ) {
        tracing::warn!("{e}");
        eprintln!("redwing-server: {e}");
        lifecycle::exit(1);
    }
    lifecycle::exit(0);
}
