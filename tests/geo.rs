//! The geo commands and DEBUG POPULATE side by side with redis-server 7.0
//! (raw RESP bytes, RESP2 and RESP3): scores, GEOHASH strings, GEOPOS
//! coordinates, distances, radius and box searches (sorted, unsorted, COUNT,
//! ANY), the STORE forms with the destination on the source's core and on
//! the other one, error texts and COMMAND INFO rows.
mod common;

use common::*;

const DATA: &[&[&str]] = &[
    &[
        "GEOADD",
        "Sicily",
        "13.361389",
        "38.115556",
        "Palermo",
        "15.087269",
        "37.502669",
        "Catania",
    ],
    &[
        "GEOADD",
        "Sicily",
        "12.758489",
        "38.788135",
        "edge1",
        "17.241510",
        "38.788135",
        "edge2",
    ],
    &[
        "GEOADD",
        "world",
        "-122.4194",
        "37.7749",
        "sf",
        "-74.006",
        "40.7128",
        "nyc",
        "2.3522",
        "48.8566",
        "paris",
        "139.6917",
        "35.6895",
        "tokyo",
        "-0.1276",
        "51.5072",
        "london",
        "151.2093",
        "-33.8688",
        "sydney",
        "-179.9",
        "-85",
        "far",
        "180",
        "85.05112878",
        "corner",
    ],
    &["SET", "str", "v"],
];

fn with_data<'a>(cmds: &[&'a [&'a str]]) -> Vec<&'a [&'a str]> {
    DATA.iter().chain(cmds).copied().collect()
}

#[test]
fn geoadd_pos_hash_dist_match_redis() {
    let cmds: &[&[&str]] = &[
        &["ZRANGE", "Sicily", "0", "-1", "WITHSCORES"],
        &["ZRANGE", "world", "0", "-1", "WITHSCORES"],
        &["GEOPOS", "Sicily", "Palermo", "nope", "Catania"],
        &["GEOPOS", "world", "sf", "far", "corner", "sydney"],
        &["GEOPOS", "missing", "a", "b"],
        &["GEOHASH", "Sicily", "Palermo", "Catania", "nope"],
        &["GEOHASH", "world", "sf", "far", "corner", "tokyo"],
        &["GEOHASH", "missing", "a"],
        &["GEODIST", "Sicily", "Palermo", "Catania"],
        &["GEODIST", "Sicily", "Palermo", "Catania", "km"],
        &["GEODIST", "Sicily", "Palermo", "Catania", "MI"],
        &["GEODIST", "Sicily", "Palermo", "Catania", "ft"],
        &["GEODIST", "world", "sf", "sydney", "km"],
        &["GEODIST", "Sicily", "Palermo", "nope"],
        &["GEODIST", "missing", "a", "b"],
        &["GEODIST", "Sicily", "Palermo", "Catania", "yd"],
        &["GEODIST", "Sicily", "Palermo", "Catania", "km", "x"],
        &["GEODIST", "str", "a", "b"],
        // NX / XX / CH.
        &[
            "GEOADD", "Sicily", "NX", "13", "38", "Palermo", "14", "37", "new",
        ],
        &[
            "GEOADD", "Sicily", "XX", "CH", "13", "38", "Palermo", "14", "37", "new2",
        ],
        &[
            "GEOADD", "Sicily", "CH", "13", "38", "Palermo", "14", "37", "new3",
        ],
        &["ZSCORE", "Sicily", "Palermo"],
        &["EXISTS", "new2"],
        &["GEOADD", "fresh", "XX", "1", "2", "a"],
        &["EXISTS", "fresh"],
        // Errors.
        &["GEOADD", "Sicily", "NX", "XX", "1", "2", "a"],
        &["GEOADD", "Sicily", "1", "2", "a", "3"],
        &["GEOADD", "Sicily", "CH", "NX", "XX", "CH"],
        &["GEOADD", "Sicily", "GT", "1", "2", "a"],
        &["GEOADD", "Sicily", "181", "2", "a"],
        &["GEOADD", "Sicily", "1", "85.06", "a"],
        &["GEOADD", "Sicily", "-200.5", "-90", "a"],
        &["GEOADD", "Sicily", "x", "2", "a"],
        &["GEOADD", "Sicily", "1", "", "a"],
        &["GEOADD", "Sicily", "1", "2", "ok", "1", "nan", "bad"],
        &["EXISTS", "ok"],
        &["ZSCORE", "Sicily", "ok"],
        &["GEOADD", "str", "1", "2", "a"],
        &["GEOADD", "Sicily", "1", "2"],
        &["GEOPOS", "str", "a"],
        &["GEOHASH", "str", "a"],
        &["GEOPOS"],
        &["GEODIST", "Sicily", "a"],
    ];
    compare_with_redis(&[], &with_data(cmds));
}

#[test]
fn searches_match_redis() {
    let cmds: &[&[&str]] = &[
        &["GEORADIUS", "Sicily", "15", "37", "200", "km", "ASC"],
        &["GEORADIUS", "Sicily", "15", "37", "200", "km"],
        &[
            "GEORADIUS",
            "Sicily",
            "15",
            "37",
            "200",
            "km",
            "WITHDIST",
            "WITHCOORD",
            "WITHHASH",
            "DESC",
        ],
        &["GEORADIUS", "Sicily", "15", "37", "400", "km", "COUNT", "2"],
        &[
            "GEORADIUS",
            "Sicily",
            "15",
            "37",
            "400",
            "km",
            "COUNT",
            "2",
            "DESC",
        ],
        &[
            "GEORADIUS",
            "Sicily",
            "15",
            "37",
            "400",
            "km",
            "COUNT",
            "1",
            "ANY",
        ],
        &["GEORADIUS", "Sicily", "15", "37", "1", "m"],
        &["GEORADIUS", "Sicily", "15", "37", "0", "m"],
        &[
            "GEORADIUS",
            "world",
            "0",
            "0",
            "20000",
            "km",
            "WITHDIST",
            "ASC",
        ],
        &["GEORADIUS", "world", "0", "0", "20000", "km"],
        &["GEORADIUS", "world", "-122", "37", "5000", "mi", "WITHDIST"],
        &["GEORADIUS", "world", "179", "85", "3000", "km", "WITHCOORD"],
        &[
            "GEORADIUS",
            "world",
            "-179",
            "-84",
            "500",
            "km",
            "WITHCOORD",
        ],
        &[
            "GEORADIUS_RO",
            "Sicily",
            "15",
            "37",
            "200",
            "km",
            "WITHDIST",
        ],
        &[
            "GEORADIUSBYMEMBER",
            "Sicily",
            "Palermo",
            "200",
            "km",
            "WITHDIST",
        ],
        &[
            "GEORADIUSBYMEMBER_RO",
            "Sicily",
            "Catania",
            "300",
            "km",
            "ASC",
            "WITHHASH",
        ],
        &[
            "GEORADIUSBYMEMBER",
            "world",
            "paris",
            "1000",
            "km",
            "WITHDIST",
            "ASC",
        ],
        &[
            "GEOSEARCH",
            "Sicily",
            "FROMLONLAT",
            "15",
            "37",
            "BYBOX",
            "400",
            "400",
            "km",
            "ASC",
        ],
        &[
            "GEOSEARCH",
            "Sicily",
            "FROMLONLAT",
            "15",
            "37",
            "BYBOX",
            "400",
            "400",
            "km",
            "ASC",
            "WITHCOORD",
            "WITHDIST",
            "WITHHASH",
        ],
        &[
            "GEOSEARCH",
            "Sicily",
            "FROMMEMBER",
            "Palermo",
            "BYRADIUS",
            "200",
            "km",
            "DESC",
        ],
        &[
            "GEOSEARCH",
            "Sicily",
            "FROMLONLAT",
            "15",
            "37",
            "BYBOX",
            "200",
            "50",
            "KM",
        ],
        &[
            "GEOSEARCH",
            "world",
            "FROMMEMBER",
            "london",
            "BYBOX",
            "3000",
            "800",
            "km",
            "WITHDIST",
        ],
        &[
            "GEOSEARCH",
            "world",
            "FROMLONLAT",
            "0",
            "-80",
            "BYBOX",
            "40000",
            "2000",
            "km",
        ],
        &[
            "GEOSEARCH",
            "world",
            "FROMLONLAT",
            "0",
            "0",
            "BYRADIUS",
            "20000",
            "km",
            "COUNT",
            "3",
            "ANY",
        ],
        &[
            "GEOSEARCH",
            "missing",
            "FROMLONLAT",
            "0",
            "0",
            "BYRADIUS",
            "1",
            "km",
        ],
        &[
            "GEOSEARCH",
            "missing",
            "FROMMEMBER",
            "x",
            "BYRADIUS",
            "1",
            "km",
        ],
        &["GEORADIUSBYMEMBER", "missing", "x", "1", "km"],
        &["GEORADIUSBYMEMBER", "missing", "x", "bad", "unit"],
        &["GEORADIUS", "missing", "0", "0", "1", "km"],
        // Errors, in Redis's order of checks.
        &["GEORADIUS", "str", "0", "0", "1", "km"],
        &["GEORADIUS", "str", "x", "0", "1", "km"],
        &["GEORADIUS", "Sicily", "x", "0", "1", "km"],
        &["GEORADIUS", "Sicily", "0", "90", "1", "km"],
        &["GEORADIUS", "Sicily", "0", "0", "x", "km"],
        &["GEORADIUS", "Sicily", "0", "0", "-1", "km"],
        &["GEORADIUS", "Sicily", "0", "0", "1", "yd"],
        &["GEORADIUS", "Sicily", "0", "0", "1", "km", "COUNT", "0"],
        &["GEORADIUS", "Sicily", "0", "0", "1", "km", "COUNT", "x"],
        &["GEORADIUS", "Sicily", "0", "0", "1", "km", "COUNT"],
        &["GEORADIUS", "Sicily", "0", "0", "1", "km", "ANY"],
        &["GEORADIUS", "Sicily", "0", "0", "1", "km", "BOGUS"],
        &[
            "GEORADIUS",
            "Sicily",
            "0",
            "0",
            "1",
            "km",
            "STORE",
            "d",
            "WITHDIST",
        ],
        &["GEORADIUS_RO", "Sicily", "0", "0", "1", "km", "STORE", "d"],
        &[
            "GEORADIUS",
            "Sicily",
            "0",
            "0",
            "1",
            "km",
            "FROMMEMBER",
            "x",
        ],
        &["GEORADIUSBYMEMBER", "Sicily", "nope", "1", "km"],
        &["GEORADIUSBYMEMBER", "Sicily", "Palermo", "1", "parsec"],
        &["GEOSEARCH", "Sicily", "BYRADIUS", "1", "km"],
        &["geosearch", "Sicily", "FROMMEMBER", "Palermo"],
        &[
            "GEOSEARCH",
            "Sicily",
            "FROMMEMBER",
            "Palermo",
            "FROMLONLAT",
            "1",
            "2",
            "BYRADIUS",
            "1",
            "km",
        ],
        &[
            "GEOSEARCH",
            "Sicily",
            "FROMMEMBER",
            "Palermo",
            "BYRADIUS",
            "1",
            "km",
            "BYBOX",
            "1",
            "1",
            "km",
        ],
        &[
            "GEOSEARCH",
            "Sicily",
            "FROMMEMBER",
            "nope",
            "BYRADIUS",
            "1",
            "km",
        ],
        &[
            "GEOSEARCH",
            "Sicily",
            "FROMLONLAT",
            "1",
            "91",
            "BYRADIUS",
            "1",
            "km",
        ],
        &[
            "GEOSEARCH",
            "Sicily",
            "FROMLONLAT",
            "1",
            "1",
            "BYBOX",
            "x",
            "1",
            "km",
        ],
        &[
            "GEOSEARCH",
            "Sicily",
            "FROMLONLAT",
            "1",
            "1",
            "BYBOX",
            "1",
            "x",
            "km",
        ],
        &[
            "GEOSEARCH",
            "Sicily",
            "FROMLONLAT",
            "1",
            "1",
            "BYBOX",
            "1",
            "-1",
            "km",
        ],
        &[
            "GEOSEARCH",
            "Sicily",
            "FROMLONLAT",
            "1",
            "1",
            "BYBOX",
            "1",
            "1",
            "au",
        ],
        &[
            "GEOSEARCH",
            "Sicily",
            "FROMLONLAT",
            "1",
            "1",
            "BYRADIUS",
            "1",
            "km",
            "STORE",
            "x",
        ],
        &[
            "GEOSEARCH",
            "Sicily",
            "FROMLONLAT",
            "1",
            "1",
            "BYRADIUS",
            "1",
            "km",
            "STOREDIST",
        ],
        &[
            "GEOSEARCH",
            "Sicily",
            "FROMLONLAT",
            "1",
            "1",
            "BYRADIUS",
            "1",
            "km",
            "ANY",
        ],
        &["GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1", "BYRADIUS"],
    ];
    compare_with_redis(&[], &with_data(cmds));
}

/// Random points and searches: the cell walk (edges, poles, the antimeridian,
/// huge and tiny radii) returns what Redis returns, in Redis's order.
#[test]
fn random_searches_match_redis() {
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut coord = |span: f64| (next() % 1_000_000) as f64 / 1_000_000.0 * 2.0 * span - span;
    let mut owned: Vec<Vec<String>> = Vec::new();
    let mut add = vec!["GEOADD".to_string(), "pts".to_string()];
    for i in 0..300 {
        add.push(format!("{:.6}", coord(180.0)));
        add.push(format!("{:.6}", coord(85.0)));
        add.push(format!("p{i}"));
    }
    owned.push(add);
    let radii = ["0.5", "30", "250", "1200", "5000", "9000"];
    for i in 0..40 {
        let (lon, lat) = (
            format!("{:.4}", coord(180.0)),
            format!("{:.4}", coord(85.0)),
        );
        let r = radii[i % radii.len()];
        owned.push(
            ["GEORADIUS", "pts", &lon, &lat, r, "km"]
                .map(String::from)
                .to_vec(),
        );
        owned.push(
            [
                "GEOSEARCH",
                "pts",
                "FROMLONLAT",
                &lon,
                &lat,
                "BYBOX",
                r,
                radii[(i + 2) % 6],
                "km",
                "WITHDIST",
            ]
            .map(String::from)
            .to_vec(),
        );
        owned.push(
            [
                "GEOSEARCH",
                "pts",
                "FROMMEMBER",
                &format!("p{i}"),
                "BYRADIUS",
                r,
                "km",
                "ASC",
            ]
            .map(String::from)
            .to_vec(),
        );
    }
    let refs: Vec<Vec<&str>> = owned
        .iter()
        .map(|v| v.iter().map(String::as_str).collect())
        .collect();
    let [resp2, _] = compare_with_redis(&[], &slices(&refs));
    // Not vacuous: most searches found something.
    let found = resp2.iter().filter(|(a, _)| a.len() > 10).count();
    assert!(found > 40, "only {found} searches found points");
}

/// GEORADIUS ... STORE / STOREDIST and GEOSEARCHSTORE with the destination on
/// the source's core and on the other core.
#[test]
fn stores_on_both_cores_match_redis() {
    let (ours, redis) = (Server::start(&[]), Server::redis(&[]));
    let (c0, c1) = keys_on_two_cores("geo");
    let src = c0.clone();
    for dst in [format!("{{{c0}}}dst"), format!("{{{c1}}}dst")] {
        let d = dst.as_str();
        let s = src.as_str();
        let cmds: &[&[&str]] = &[
            &["DEL", s, d],
            &[
                "GEOADD",
                s,
                "13.361389",
                "38.115556",
                "Palermo",
                "15.087269",
                "37.502669",
                "Catania",
            ],
            &["GEORADIUS", s, "15", "37", "200", "km", "STORE", d],
            &["ZRANGE", d, "0", "-1", "WITHSCORES"],
            &["GEORADIUS", s, "15", "37", "200", "km", "STOREDIST", d],
            &["ZRANGE", d, "0", "-1", "WITHSCORES"],
            &[
                "GEORADIUS",
                s,
                "15",
                "37",
                "200",
                "km",
                "STORE",
                "other",
                "STOREDIST",
                d,
            ],
            &["ZRANGE", d, "0", "-1", "WITHSCORES"],
            &["GEORADIUSBYMEMBER", s, "Palermo", "100", "km", "STORE", d],
            &["ZRANGE", d, "0", "-1", "WITHSCORES"],
            &[
                "GEOSEARCHSTORE",
                d,
                s,
                "FROMLONLAT",
                "15",
                "37",
                "BYBOX",
                "400",
                "400",
                "km",
                "ASC",
                "COUNT",
                "1",
            ],
            &["ZRANGE", d, "0", "-1", "WITHSCORES"],
            &[
                "GEOSEARCHSTORE",
                d,
                s,
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "400",
                "km",
                "STOREDIST",
            ],
            &["ZRANGE", d, "0", "-1", "WITHSCORES"],
            // Over another type with a TTL: replaced.
            &["SET", d, "x", "EX", "100"],
            &[
                "GEOSEARCHSTORE",
                d,
                s,
                "FROMMEMBER",
                "Palermo",
                "BYRADIUS",
                "10",
                "km",
            ],
            &["TYPE", d],
            &["TTL", d],
            // Nothing found, or no source: the destination goes.
            &["GEORADIUS", s, "0", "0", "1", "km", "STORE", d],
            &["EXISTS", d],
            &["SET", d, "x"],
            &[
                "GEOSEARCHSTORE",
                d,
                "nosuch",
                "FROMLONLAT",
                "0",
                "0",
                "BYRADIUS",
                "1",
                "km",
            ],
            &["EXISTS", d],
            // Errors leave the destination alone.
            &["SET", d, "x"],
            &[
                "GEOSEARCHSTORE",
                d,
                s,
                "FROMLONLAT",
                "0",
                "0",
                "BYRADIUS",
                "1",
                "km",
                "WITHDIST",
            ],
            &[
                "GEOSEARCHSTORE",
                d,
                "str",
                "FROMLONLAT",
                "0",
                "0",
                "BYRADIUS",
                "1",
                "km",
            ],
            &["GEORADIUS", s, "0", "0", "1", "km", "STORE", d, "WITHCOORD"],
            &["GET", d],
        ];
        same_as_redis(&ours, &redis, cmds);
        // The search variants on a connection of each core.
        for core in [0, 1] {
            let mut mine = ours.raw_on_core(core);
            let mut theirs = RawClient::new(&redis);
            let again: &[&[&str]] = &[
                &[
                    "GEOADD",
                    s,
                    "13.361389",
                    "38.115556",
                    "Palermo",
                    "15.087269",
                    "37.502669",
                    "Catania",
                ],
                &["GEORADIUS", s, "15", "37", "200", "km", "STORE", d],
                &["ZRANGE", d, "0", "-1", "WITHSCORES"],
                &[
                    "GEOSEARCHSTORE",
                    d,
                    s,
                    "FROMLONLAT",
                    "15",
                    "37",
                    "BYRADIUS",
                    "400",
                    "km",
                    "STOREDIST",
                ],
                &["ZRANGE", d, "0", "-1", "WITHSCORES"],
            ];
            same_as_redis_on(&mut mine, &mut theirs, 2, again);
        }
    }
}

/// What the AOF gets: GEOADD as the ZADD Redis writes, GEORADIUS only with
/// STORE; after a restart the data is back.
#[test]
fn geoadd_is_journaled_as_zadd() {
    let s = Server::start(&["--appendonly", "yes"]);
    let (c0, c1) = keys_on_two_cores("geoaof");
    let dst = format!("{{{c1}}}d");
    let mut c = s.conn();
    let n: i64 = cmd(&["GEOADD", &c0, "CH", "13.361389", "38.115556", "Palermo"])
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 1);
    let _: Vec<String> = cmd(&["GEORADIUS", &c0, "13", "38", "100", "km"])
        .query(&mut c)
        .unwrap();
    let n: i64 = cmd(&["GEORADIUS", &c0, "13", "38", "100", "km", "STORE", &dst])
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 1);
    let aof = |s: &Server| {
        let mut all = Vec::new();
        for dir in [
            s.dir.path().join("appendonlydir"),
            s.dir.path().to_path_buf(),
        ] {
            if let Ok(rd) = std::fs::read_dir(&dir) {
                for e in rd.flatten() {
                    if e.path().to_string_lossy().contains(".aof") && e.path().is_file() {
                        all.extend(std::fs::read(e.path()).unwrap());
                    }
                }
            }
        }
        String::from_utf8_lossy(&all).into_owned()
    };
    wait_for("the AOF has the writes", TIMEOUT, || aof(&s).contains(&dst));
    let text = aof(&s);
    let zadd = format!(
        "*5\r\n$4\r\nzadd\r\n${}\r\n{c0}\r\n$2\r\nCH\r\n$16\r\n3479099956230698\r\n$7\r\nPalermo\r\n",
        c0.len()
    );
    assert!(text.contains(&zadd), "{}", text.replace("\r\n", " "));
    assert_eq!(text.matches("GEORADIUS").count(), 1, "{text}");
    assert!(!text.contains("GEOADD"));
}

#[test]
fn command_info_matches_redis() {
    let names = [
        "geoadd",
        "geodist",
        "geohash",
        "geopos",
        "georadius",
        "georadiusbymember",
        "georadius_ro",
        "georadiusbymember_ro",
        "geosearch",
        "geosearchstore",
    ];
    let (ours, redis) = (Server::start(&[]), Server::redis(&[]));
    // Name, arity, flags, key positions and ACL categories (the table has
    // no tips or key specs).
    command_rows_match(&ours, &redis, &names, 7);
}

#[test]
fn debug_populate_matches_redis() {
    let args = ["--enable-debug-command", "yes"];
    let cmds: &[&[&str]] = &[
        &["SET", "key:3", "mine"],
        &["DEBUG", "POPULATE", "50"],
        &["DBSIZE"],
        &["GET", "key:3"],
        &["GET", "key:0"],
        &["GET", "key:49"],
        &["EXISTS", "key:50"],
        &["DEBUG", "POPULATE", "10", "p", "3"],
        &["GET", "p:7"],
        &["DEBUG", "POPULATE", "10", "q", "12"],
        &["GET", "q:7"],
        &["DEBUG", "POPULATE", "3", "r", "0"],
        &["GET", "r:2"],
        &["DEBUG", "POPULATE", "2", ""],
        &["GET", ":1"],
        &["DBSIZE"],
        &["DEBUG", "POPULATE", "0"],
        &["DEBUG", "POPULATE", "-1"],
        &["DEBUG", "POPULATE", "x"],
        &["DEBUG", "POPULATE", "2", "s", "-1"],
        &["DEBUG", "POPULATE", "2", "s", "x"],
        &["DEBUG", "POPULATE", "1", "s", "1", "2"],
        &["DEBUG", "POPULATE"],
        &["DBSIZE"],
    ];
    compare_with_redis(&args, cmds);
    // Keys land on both cores; a count whose keys cannot fit is refused
    // before anything is made (redis-server is OOM-killed there: not run).
    let s = Server::start(&args);
    let mut c = s.conn();
    let ok: String = cmd(&["DEBUG", "POPULATE", "1000"]).query(&mut c).unwrap();
    assert_eq!(ok, "OK");
    assert_eq!(int(&mut c, &["DBSIZE"]), 1000);
    for core in [0, 1] {
        let mut on = s.conn_on_core(core);
        assert_eq!(int(&mut on, &["DBSIZE"]), 1000);
    }
    let huge = s.cli(&["DEBUG", "POPULATE", "9223372036854775807"]);
    assert_eq!(huge.trim(), "ERR OOM in dictTryExpand");
    let huge = s.cli(&["DEBUG", "POPULATE", "1000000000000"]);
    assert_eq!(huge.trim(), "ERR OOM in dictTryExpand");
    assert_eq!(int(&mut c, &["DBSIZE"]), 1000);
}

/// The destination of GEORADIUS ... STORE and GEOSEARCHSTORE, on the
/// source's core and on the other one: a WATCH on it fails the EXEC, and a
/// client blocked on it in BZPOPMIN is served.
#[test]
fn store_fails_watch_and_wakes_blocked_clients() {
    let s = Server::start(&[]);
    let (c0, c1) = keys_on_two_cores("geow");
    for dst in [format!("{{{c0}}}w"), format!("{{{c1}}}w")] {
        let stores: [&[&str]; 2] = [
            &["GEORADIUS", &c0, "15", "37", "200", "km", "STORE", &dst],
            &[
                "GEOSEARCHSTORE",
                &dst,
                &c0,
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "200",
                "km",
            ],
        ];
        for store in stores {
            let mut a = s.conn();
            let mut b = s.conn();
            q(
                &mut b,
                &["GEOADD", &c0, "15.087269", "37.502669", "Catania"],
            );
            q(&mut a, &["WATCH", &dst]);
            assert_eq!(int(&mut b, store), 1, "{store:?}");
            let exec: Option<Vec<String>> = redis::pipe()
                .atomic()
                .cmd("GET")
                .arg("x")
                .query(&mut a)
                .unwrap();
            assert_eq!(exec, None, "EXEC after {store:?}");
            q(&mut b, &["DEL", &dst]);
            let mut blocked = RawClient::new(&s);
            blocked.send(&["BZPOPMIN", &dst, "5"]);
            wait_blocked(&mut b, "bzpopmin", 1);
            assert_eq!(int(&mut b, store), 1);
            let got = blocked.read();
            assert!(got.contains("Catania"), "{store:?}: {got}");
            q(&mut b, &["DEL", &dst, &c0]);
        }
    }
}
