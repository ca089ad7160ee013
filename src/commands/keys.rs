//! The generic keyspace family.

use bytes::Bytes;

use super::{flags::*, spec, Cross, Ctx, Handler, Merge, Spec};
use crate::protocol::Reply;

fn del(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut n = 0;
    for k in &args[1..] {
        if ctx.lookup_write(k).is_some() {
            ctx.db().remove(k);
            n += 1;
        }
    }
    ctx.dirty(n as u64);
    Reply::Int(n)
}

fn exists(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Int(
        args[1..]
            .iter()
            .filter(|k| ctx.lookup_read(k).is_some())
            .count() as i64,
    )
}

pub fn register(t: &mut Vec<Spec>) {
    use Handler::Key;
    let g = "generic";
    t.extend([
        spec(
            "del",
            -2,
            WRITE,
            (1, -1, 1),
            Key(del),
            Cross::Split(Merge::Sum),
            g,
            "Deletes one or more keys.",
            "1.0.0",
        ),
        spec(
            "exists",
            -2,
            READONLY | FAST,
            (1, -1, 1),
            Key(exists),
            Cross::Split(Merge::Sum),
            g,
            "Determines whether one or more keys exist.",
            "1.0.0",
        ),
    ]);
}
