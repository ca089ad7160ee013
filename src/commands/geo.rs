//! The geo family, as Redis 7.0's geo.c: a geo set is a sorted set whose
//! scores are 52-bit geohashes (`geohash`). GEOADD is ZADD of the encoded
//! points (and is journaled as that ZADD, as Redis propagates it); the
//! searches read the cells around the centre and filter by distance or
//! box.
//!
//! A search that stores its result (GEORADIUS ... STORE, GEOSEARCHSTORE)
//! runs in one job when the source and the destination share a core;
//! otherwise it holds both cores (`runtime::Txn`), searches on the
//! source's core and writes on the destination's, like ZRANGESTORE.

use crate::cluster::route::core as core_of;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

use super::geohash::{self, Search, Shape};
use super::zsets;
use super::{arg_i64, flags::*, is, spec, with_ctx, ClientRef, Cross, Ctx, Handler, Spec};
use crate::protocol::errors::{self, err};
use crate::protocol::Reply;
use crate::runtime::{self, Job, Txn};
use crate::storage::value::ZSet;

type Fut = Pin<Box<dyn Future<Output = Reply>>>;

const UNSUPPORTED_UNIT: &str = "ERR unsupported unit provided. please use M, KM, FT, MI";
const NO_MEMBER: &str = "ERR could not decode requested zset member";

// ------------------------------------------------------------ arguments

/// A coordinate, radius or size as getDoubleFromObject reads it; `msg`
/// replaces "value is not a valid float".
fn number(b: &[u8], msg: Option<&'static str>) -> Result<f64, Reply> {
    zsets::score_arg(b).map_err(|e| msg.map_or(e, Reply::error))
}

/// A longitude and a latitude (extractLongLatOrReply).
fn lon_lat(args: &[Bytes]) -> Result<(f64, f64), Reply> {
    let (lon, lat) = (number(&args[0], None)?, number(&args[1], None)?);
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&lon)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat)
    {
        return Err(Reply::error(format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok((lon, lat))
}

/// Meters per `unit` (any case).
fn unit(b: &[u8]) -> Result<f64, Reply> {
    let u = b.to_ascii_lowercase();
    Ok(match u.as_slice() {
        b"m" => 1.0,
        b"km" => 1000.0,
        b"ft" => 0.3048,
        b"mi" => 1609.34,
        _ => return Err(err(UNSUPPORTED_UNIT)),
    })
}

/// `radius unit`: the shape and meters per unit.
fn radius(args: &[Bytes]) -> Result<(Shape, f64), Reply> {
    let r = number(&args[0], Some("ERR need numeric radius"))?;
    if r < 0.0 {
        return Err(err("ERR radius cannot be negative"));
    }
    Ok((Shape::Radius(r), unit(&args[1])?))
}

/// `width height unit`.
fn rectangle(args: &[Bytes]) -> Result<(Shape, f64), Reply> {
    let w = number(&args[0], Some("ERR need numeric width"))?;
    let h = number(&args[1], Some("ERR need numeric height"))?;
    if h < 0.0 || w < 0.0 {
        return Err(err("ERR height or width cannot be negative"));
    }
    Ok((Shape::Box(w, h), unit(&args[2])?))
}

/// The position of `member`, or Redis's "could not decode" error.
fn member_pos(z: &ZSet, member: &[u8]) -> Result<(f64, f64), Reply> {
    z.score(member)
        .and_then(geohash::decode_score)
        .ok_or_else(|| err(NO_MEMBER))
}

/// A distance as Redis replies it: `%.4f`.
fn distance_reply(d: f64) -> Reply {
    Reply::Bulk(Bytes::from(format!("{d:.4}")))
}

// --------------------------------------------------------------- GEOADD

/// GEOADD key [NX|XX] [CH] lon lat member ... as the ZADD Redis runs (and
/// propagates) for it: the options as given, then score member pairs.
pub fn zadd_args(args: &[Bytes]) -> Result<Vec<Bytes>, Reply> {
    let mut first = 2;
    let (mut nx, mut xx) = (false, false);
    while first < args.len() {
        let a = &args[first];
        if is(a, "nx") {
            nx = true;
        } else if is(a, "xx") {
            xx = true;
        } else if !is(a, "ch") {
            break;
        }
        first += 1;
    }
    let points = &args[first..];
    if !points.len().is_multiple_of(3) || (nx && xx) {
        return Err(err(errors::SYNTAX));
    }
    let mut out = Vec::with_capacity(first + points.len() / 3 * 2);
    out.push(Bytes::from_static(b"zadd"));
    out.extend_from_slice(&args[1..first]);
    for p in points.chunks(3) {
        let (lon, lat) = lon_lat(&p[..2])?;
        out.push(Bytes::from(geohash::score_of(lon, lat).to_string()));
        out.push(p[2].clone());
    }
    Ok(out)
}

fn geoadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match zadd_args(args) {
        Ok(z) => zsets::zadd(ctx, &z),
        Err(e) => e,
    }
}

// ------------------------------------------------- GEODIST, GEOHASH, GEOPOS

fn geodist(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let to_meters = match args.len() {
        5 => match unit(&args[4]) {
            Ok(u) => u,
            Err(e) => return e,
        },
        4 => 1.0,
        _ => return err(errors::SYNTAX),
    };
    let z = match zsets::zset(ctx, &args[1], false) {
        Ok(Some(z)) => z,
        Ok(None) => return Reply::Nil,
        Err(e) => return e,
    };
    let pos = |m: &[u8]| z.score(m).and_then(geohash::decode_score);
    match (pos(&args[2]), pos(&args[3])) {
        (Some(a), Some(b)) => distance_reply(geohash::distance(a.0, a.1, b.0, b.1) / to_meters),
        _ => Reply::Nil,
    }
}

/// One reply per member of `args[2..]` (`missing` when it is not there).
fn per_member(
    ctx: &mut Ctx,
    args: &[Bytes],
    missing: Reply,
    f: impl Fn(f64, f64) -> Reply,
) -> Reply {
    let z = match zsets::zset(ctx, &args[1], false) {
        Ok(z) => z,
        Err(e) => return e,
    };
    Reply::Array(
        args[2..]
            .iter()
            .map(|m| {
                z.as_ref()
                    .and_then(|z| z.score(m))
                    .and_then(geohash::decode_score)
                    .map_or_else(|| missing.clone(), |(lon, lat)| f(lon, lat))
            })
            .collect(),
    )
}

fn geohash_cmd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    per_member(ctx, args, Reply::Nil, |lon, lat| {
        Reply::bulk(geohash::standard_string(lon, lat))
    })
}

fn geopos(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    per_member(ctx, args, Reply::NilArray, |lon, lat| {
        Reply::Array(vec![Reply::HumanDouble(lon), Reply::HumanDouble(lat)])
    })
}

// ------------------------------------------------------------- searches

/// Which search command: how its arguments are laid out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// GEORADIUS[_RO] key lon lat radius unit ...
    Radius { ro: bool },
    /// GEORADIUSBYMEMBER[_RO] key member radius unit ...
    ByMember { ro: bool },
    /// GEOSEARCH key FROM... BY... ...
    Search,
    /// GEOSEARCHSTORE dst key FROM... BY... ...
    SearchStore,
}

impl Variant {
    fn src(self) -> usize {
        if self == Variant::SearchStore {
            2
        } else {
            1
        }
    }

    /// Where the options start.
    fn base(self) -> usize {
        match self {
            Variant::Radius { .. } => 6,
            Variant::ByMember { .. } => 5,
            Variant::Search => 2,
            Variant::SearchStore => 3,
        }
    }

    /// GEORADIUS and GEORADIUSBYMEMBER take STORE / STOREDIST key.
    fn store_key_option(self) -> bool {
        matches!(
            self,
            Variant::Radius { ro: false } | Variant::ByMember { ro: false }
        )
    }

    fn search_syntax(self) -> bool {
        matches!(self, Variant::Search | Variant::SearchStore)
    }

    fn store_event(self) -> &'static str {
        if self.search_syntax() {
            "geosearchstore"
        } else {
            "georadiusstore"
        }
    }
}

/// The destination a search command stores to, read as Redis's option
/// parser would reach it (the last STORE / STOREDIST wins).
fn store_key(args: &[Bytes], v: Variant) -> Option<Bytes> {
    if v == Variant::SearchStore {
        return Some(args[1].clone());
    }
    if !v.store_key_option() {
        return None;
    }
    let (mut i, mut found) = (v.base(), None);
    while i < args.len() {
        let a = &args[i];
        let has_next = i + 1 < args.len();
        if ["withdist", "withhash", "withcoord", "any", "asc", "desc"]
            .iter()
            .any(|w| is(a, w))
        {
            i += 1;
        } else if has_next && is(a, "count") {
            i += 2;
        } else if has_next && (is(a, "store") || is(a, "storedist")) {
            found = Some(args[i + 1].clone());
            i += 2;
        } else {
            break;
        }
    }
    found
}

/// Whether a GEORADIUS / GEORADIUSBYMEMBER call writes (has STORE or
/// STOREDIST): only then is it propagated, as in Redis.
pub fn radius_stores(name: &str, args: &[Bytes]) -> bool {
    let v = match name {
        "georadius" => Variant::Radius { ro: false },
        "georadiusbymember" => Variant::ByMember { ro: false },
        _ => return true,
    };
    store_key(args, v).is_some()
}

/// A match.
struct Point {
    member: Bytes,
    score: f64,
    lon: f64,
    lat: f64,
    /// Meters, then the request's unit.
    dist: f64,
}

/// The points of `z` inside `q`, cell by cell as Redis visits them;
/// `limit` (ANY) stops early, 0 for none.
fn points_within(z: &ZSet, q: &Search, limit: usize) -> Vec<Point> {
    let mut found: Vec<Point> = Vec::new();
    let full = |found: &Vec<Point>| limit > 0 && found.len() >= limit;
    for cell in geohash::cells_to_search(&q.cells()) {
        if full(&found) {
            break;
        }
        let (min, max) = geohash::score_range(cell);
        let (min, max) = (min as f64, max as f64);
        let lo = z.count_while(|s, _| s < min);
        let hi = z.count_while(|s, _| s < max);
        z.range(lo, hi, false, |m, score| {
            if full(&found) {
                return;
            }
            let Some((lon, lat)) = geohash::decode_score(score) else {
                return;
            };
            if let Some(dist) = q.distance_within(lon, lat) {
                found.push(Point {
                    member: Bytes::copy_from_slice(m),
                    score,
                    lon,
                    lat,
                    dist,
                });
            }
        });
    }
    found
}

/// What a search produced on the source's core.
enum Found {
    Reply(Reply),
    /// The members to store at the destination, with their scores.
    Store(Bytes, Vec<(Bytes, f64)>),
}

/// georadiusGeneric: parses and runs a search on the source's core, in
/// Redis's order of checks (the source's type first).
fn search(ctx: &mut Ctx, args: &[Bytes], v: Variant) -> Result<Found, Reply> {
    let z = zsets::zset(ctx, &args[v.src()], false)?.map(|z| &*z);
    let mut center = None;
    let mut shape = None;
    let mut store = None;
    match v {
        Variant::Radius { .. } => {
            center = Some(lon_lat(&args[2..4])?);
            shape = Some(radius(&args[4..6])?);
        }
        Variant::ByMember { .. } => {
            if let Some(z) = z {
                center = Some(member_pos(z, &args[2])?);
                shape = Some(radius(&args[3..5])?);
            }
        }
        Variant::Search => {}
        Variant::SearchStore => store = Some(args[1].clone()),
    }
    let (mut withdist, mut withhash, mut withcoord, mut any) = (false, false, false, false);
    let (mut from_member, mut from_lonlat, mut by_radius, mut by_box) =
        (false, false, false, false);
    let (mut desc, mut sorted, mut storedist) = (false, false, false);
    let mut count: i64 = 0;
    let base = v.base();
    let remaining = args.len().saturating_sub(base);
    let mut i = 0;
    while i < remaining {
        let a = &args[base + i];
        let left = remaining - i - 1;
        let opt = &args[base + i + 1..];
        if is(a, "withdist") {
            withdist = true;
        } else if is(a, "withhash") {
            withhash = true;
        } else if is(a, "withcoord") {
            withcoord = true;
        } else if is(a, "any") {
            any = true;
        } else if is(a, "asc") || is(a, "desc") {
            (sorted, desc) = (true, is(a, "desc"));
        } else if is(a, "count") && left >= 1 {
            count = arg_i64(&opt[0])?;
            if count <= 0 {
                return Err(err("ERR COUNT must be > 0"));
            }
            i += 1;
        } else if (is(a, "store") || is(a, "storedist")) && left >= 1 && v.store_key_option() {
            store = Some(opt[0].clone());
            storedist = is(a, "storedist");
            i += 1;
        } else if is(a, "storedist") && v == Variant::SearchStore {
            storedist = true;
        } else if is(a, "frommember") && left >= 1 && v.search_syntax() && !from_lonlat {
            if let Some(z) = z {
                center = Some(member_pos(z, &opt[0])?);
            }
            from_member = true;
            i += 1;
        } else if is(a, "fromlonlat") && left >= 2 && v.search_syntax() && !from_member {
            center = Some(lon_lat(&opt[..2])?);
            from_lonlat = true;
            i += 2;
        } else if is(a, "byradius") && left >= 2 && v.search_syntax() && !by_box {
            shape = Some(radius(&opt[..2])?);
            by_radius = true;
            i += 2;
        } else if is(a, "bybox") && left >= 3 && v.search_syntax() && !by_radius {
            shape = Some(rectangle(&opt[..3])?);
            by_box = true;
            i += 3;
        } else {
            return Err(err(errors::SYNTAX));
        }
        i += 1;
    }
    if store.is_some() && (withdist || withhash || withcoord) {
        let what = if v == Variant::SearchStore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(Reply::error(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    let name = || String::from_utf8_lossy(&args[0]).into_owned();
    if v.search_syntax() && !(from_member || from_lonlat) {
        return Err(Reply::error(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {}",
            name()
        )));
    }
    if v.search_syntax() && !(by_radius || by_box) {
        return Err(Reply::error(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {}",
            name()
        )));
    }
    if any && count == 0 {
        return Err(err("ERR the ANY argument requires COUNT argument"));
    }
    let (Some(z), Some((lon, lat)), Some((shape, to_meters))) = (z, center, shape) else {
        // No source: an empty result (the destination is deleted).
        return Ok(match store {
            Some(dst) => Found::Store(dst, Vec::new()),
            None => Found::Reply(Reply::Array(Vec::new())),
        });
    };
    // COUNT without an order means the nearest ones (not with ANY).
    if count != 0 && !sorted && !any {
        sorted = true;
    }
    let q = Search {
        long: lon,
        lat,
        shape,
        to_meters,
    };
    let limit = if any { count as usize } else { 0 };
    let mut found = points_within(z, &q, limit);
    if sorted {
        let by_dist = |a: &Point, b: &Point| {
            a.dist
                .partial_cmp(&b.dist)
                .unwrap_or(std::cmp::Ordering::Equal)
        };
        if desc {
            found.sort_by(|a, b| by_dist(b, a));
        } else {
            found.sort_by(by_dist);
        }
    }
    if count > 0 {
        found.truncate(count as usize);
    }
    for p in &mut found {
        p.dist /= to_meters;
    }
    if let Some(dst) = store {
        let items = found
            .into_iter()
            .map(|p| (p.member, if storedist { p.dist } else { p.score }))
            .collect();
        return Ok(Found::Store(dst, items));
    }
    let with = [withdist, withhash, withcoord];
    let rows = found.into_iter().map(|p| {
        if !with.contains(&true) {
            return Reply::Bulk(p.member);
        }
        let mut row = vec![Reply::Bulk(p.member)];
        if withdist {
            row.push(distance_reply(p.dist));
        }
        if withhash {
            row.push(Reply::Int(p.score as i64));
        }
        if withcoord {
            row.push(Reply::Array(vec![
                Reply::HumanDouble(p.lon),
                Reply::HumanDouble(p.lat),
            ]));
        }
        Reply::Array(row)
    });
    Ok(Found::Reply(Reply::Array(rows.collect())))
}

/// Writes a search's result at `dst` (on its core). `by`: the client to
/// report the change for, when the dispatcher does not (the destination
/// of GEORADIUS ... STORE is not one of its declared keys).
fn store_found(
    ctx: &mut Ctx,
    dst: &[u8],
    items: Vec<(Bytes, f64)>,
    v: Variant,
    by: Option<u64>,
) -> Reply {
    let n = items.len();
    let reply = zsets::store(ctx, dst, items, v.store_event());
    // Redis counts one change per stored member.
    ctx.dirty(n.saturating_sub(1) as u64);
    if let Some(id) = by {
        super::key_changed(ctx.db, dst, id);
    }
    reply
}

/// A search and its store, all on this core.
fn search_here(ctx: &mut Ctx, args: &[Bytes], v: Variant, by: Option<u64>) -> Reply {
    match search(ctx, args, v) {
        Ok(Found::Reply(r)) | Err(r) => r,
        Ok(Found::Store(dst, items)) => store_found(ctx, &dst, items, v, by),
    }
}

/// A storing search whose destination is on another core: both cores
/// held, the search on the source's, the write on the destination's.
async fn search_across(
    db: usize,
    args: Vec<Bytes>,
    dst: Bytes,
    v: Variant,
    by: Option<u64>,
) -> Reply {
    let (src_core, dst_core) = (core_of(&args[v.src()]), core_of(&dst));
    let txn = Txn::begin([src_core, dst_core]).await;
    let reply = async {
        let found = txn
            .call(src_core, move || with_ctx(db, |ctx| search(ctx, &args, v)))
            .await??;
        match found {
            Found::Reply(r) => Ok(r),
            Found::Store(dst, items) => {
                txn.call(dst_core, move || {
                    with_ctx(db, |ctx| store_found(ctx, &dst, items, v, by))
                })
                .await
            }
        }
    }
    .await;
    txn.end().await;
    reply.unwrap_or_else(|e| e)
}

/// GEORADIUS / GEORADIUSBYMEMBER: routed here, as the STORE key is an
/// option.
async fn radius_run(c: ClientRef, args: Vec<Bytes>, v: Variant) -> Reply {
    let (db, id) = {
        let c = c.borrow();
        (c.db, c.id)
    };
    let home = core_of(&args[1]);
    match store_key(&args, v).filter(|d| core_of(d) != home) {
        Some(dst) => search_across(db, args, dst, v, Some(id)).await,
        None => {
            let job: Job =
                Box::new(move || with_ctx(db, |ctx| search_here(ctx, &args, v, Some(id))));
            runtime::run_on(home, vec![job])
                .await
                .pop()
                .unwrap_or(Reply::Nil)
        }
    }
}

fn georadius(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(radius_run(c, args, Variant::Radius { ro: false }))
}

fn georadiusbymember(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(radius_run(c, args, Variant::ByMember { ro: false }))
}

fn georadius_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search_here(ctx, args, Variant::Radius { ro: true }, None)
}

fn georadiusbymember_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search_here(ctx, args, Variant::ByMember { ro: true }, None)
}

fn geosearch(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search_here(ctx, args, Variant::Search, None)
}

fn geosearchstore(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    search_here(ctx, args, Variant::SearchStore, None)
}

fn geosearchstore_cross(c: ClientRef, args: Vec<Bytes>) -> Fut {
    let db = c.borrow().db;
    let dst = args[1].clone();
    Box::pin(search_across(db, args, dst, Variant::SearchStore, None))
}

pub fn register(t: &mut Vec<Spec>) {
    use Handler::{Coord, Key};
    const K1: (i32, i32, i32) = (1, 1, 1);
    let g = "geo";
    let never = Cross::Never;
    t.extend([
        spec("geoadd", -5, WRITE | DENYOOM, K1, Key(geoadd), never, g, "Add one or more geospatial items in the geospatial index represented using a sorted set", "3.2.0"),
        spec("geodist", -4, READONLY, K1, Key(geodist), never, g, "Returns the distance between two members of a geospatial index", "3.2.0"),
        spec("geohash", -2, READONLY, K1, Key(geohash_cmd), never, g, "Returns members of a geospatial index as standard geohash strings", "3.2.0"),
        spec("geopos", -2, READONLY, K1, Key(geopos), never, g, "Returns longitude and latitude of members of a geospatial index", "3.2.0"),
        spec("georadius", -6, WRITE | DENYOOM | MOVABLE_KEYS, K1, Coord(georadius), never, g, "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a point", "3.2.0"),
        spec("georadiusbymember", -5, WRITE | DENYOOM | MOVABLE_KEYS, K1, Coord(georadiusbymember), never, g, "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a member", "3.2.0"),
        spec("georadius_ro", -6, READONLY, K1, Key(georadius_ro), never, g, "A read-only variant for GEORADIUS", "3.2.10"),
        spec("georadiusbymember_ro", -5, READONLY, K1, Key(georadiusbymember_ro), never, g, "A read-only variant for GEORADIUSBYMEMBER", "3.2.10"),
        spec("geosearch", -7, READONLY, K1, Key(geosearch), never, g, "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.", "6.2.0"),
        spec("geosearchstore", -8, WRITE | DENYOOM, (1, 2, 1), Key(geosearchstore), Cross::Coord(geosearchstore_cross), g, "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, and store the result in another key.", "6.2.0"),
    ]);
}
