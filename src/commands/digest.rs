//! DEBUG DIGEST and DEBUG DIGEST-VALUE: Redis's dataset fingerprint
//! (debug.c), computed the same way so a Redwing dataset and a Redis one
//! holding the same data give the same hex string. Unordered collections
//! (keys, set members, hash fields, zset members) are combined with XOR so
//! their order does not matter; lists and streams chain SHA1s so it does.

use sha1_smol::Sha1;

use crate::protocol::reply::format_g;
use crate::storage::{Entry, Value};

pub type Digest = [u8; 20];

/// digest ^= SHA1(data).
fn xor(digest: &mut Digest, data: &[u8]) {
    let h = Sha1::from(data).digest().bytes();
    for (d, x) in digest.iter_mut().zip(h) {
        *d ^= x;
    }
}

/// digest = SHA1(digest ^ SHA1(data)): order-preserving.
fn mix(digest: &mut Digest, data: &[u8]) {
    xor(digest, data);
    *digest = Sha1::from(&digest[..]).digest().bytes();
}

/// Redis's object type numbers (OBJ_STRING ...), as mixed in big-endian.
fn type_code(v: &Value) -> u32 {
    match v {
        Value::Str(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
    }
}

/// Mixes one stored value (and whether it has a TTL) into `digest`
/// (Redis's xorObjectDigest).
pub fn value(digest: &mut Digest, e: &Entry) {
    mix(digest, &type_code(&e.value).to_be_bytes());
    match &e.value {
        Value::Str(s) => mix(digest, s),
        Value::List(l) => l.each_from(0, |el| {
            mix(digest, el);
            true
        }),
        Value::Set(s) => {
            for el in s.iter() {
                el.with(|b| xor(digest, b));
            }
        }
        Value::ZSet(z) => z.range(0, z.len(), false, |member, score| {
            let mut el = [0u8; 20];
            mix(&mut el, member);
            mix(&mut el, format_g(score, 17).as_bytes());
            xor(digest, &el);
        }),
        Value::Hash(h) => {
            for (field, val) in h.iter() {
                let mut el = [0u8; 20];
                mix(&mut el, field);
                mix(&mut el, val);
                xor(digest, &el);
            }
        }
        Value::Stream(st) => {
            use crate::storage::stream::StreamId;
            st.range(StreamId::MIN, StreamId::MAX, false, |id, fields| {
                mix(digest, format!("{}.{}", id.ms, id.seq).as_bytes());
                for (f, v) in &fields {
                    mix(digest, f);
                    mix(digest, v);
                }
                true
            });
        }
    }
    if e.expire_at().is_some() {
        xor(digest, b"!!expire!!");
    }
}

/// One key's contribution to the dataset digest: the SHA1 of its name
/// mixed with its value (the XOR of these over keys is order-free).
pub fn key(key: &[u8], e: &Entry) -> Digest {
    let mut d = [0u8; 20];
    mix(&mut d, key);
    value(&mut d, e);
    Sha1::from(&d[..]).digest().bytes()
}

/// XORs a part (another core's keys of the same database) into `total`.
pub fn combine(total: &mut Digest, part: &Digest) {
    for (t, p) in total.iter_mut().zip(part) {
        *t ^= p;
    }
}

/// The dataset digest from each non-empty database's XOR of key digests
/// (in database order), as Redis's computeDatasetDigest.
pub fn dataset(dbs: impl IntoIterator<Item = (usize, Digest)>) -> Digest {
    let mut total = [0u8; 20];
    for (db, keys) in dbs {
        mix(&mut total, &(db as u32).to_be_bytes());
        combine(&mut total, &keys);
    }
    total
}

pub fn hex(d: &Digest) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_is_ordered_and_xor_is_not() {
        let (mut a, mut b) = ([0u8; 20], [0u8; 20]);
        mix(&mut a, b"x");
        mix(&mut a, b"y");
        mix(&mut b, b"y");
        mix(&mut b, b"x");
        assert_ne!(a, b);
        let (mut a, mut b) = ([0u8; 20], [0u8; 20]);
        xor(&mut a, b"x");
        xor(&mut a, b"y");
        xor(&mut b, b"y");
        xor(&mut b, b"x");
        assert_eq!(a, b);
    }
}
