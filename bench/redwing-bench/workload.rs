//! What to send: command templates (pre-encoded RESP with a hole for the
//! key), their weights, and the key chooser.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::Zipf;

use crate::cli::{Args, Distribution};

/// One piece of an encoded request.
#[derive(Debug, Clone)]
enum Piece {
    /// Ready RESP bytes.
    Fixed(Vec<u8>),
    /// A bulk argument `<before><key><after>`.
    Key(Vec<u8>, Vec<u8>),
}

/// A command template: `HSET __key__ f __data__`.
#[derive(Debug, Clone)]
pub struct Template {
    /// Name in the results: the command word, upper case (`#2`... if repeated).
    pub name: String,
    pieces: Vec<Piece>,
    pub has_key: bool,
}

impl Template {
    pub fn parse(text: &str, data: &[u8]) -> Result<Template, String> {
        let args = redwing::protocol::inline::split_args(text.as_bytes())
            .ok_or_else(|| format!("unbalanced quotes in command {text:?}"))?;
        if args.is_empty() {
            return Err("empty --command".into());
        }
        let mut pieces = Vec::new();
        let mut fixed = format!("*{}\r\n", args.len()).into_bytes();
        let mut has_key = false;
        for arg in &args {
            let arg = replace(arg, b"__data__", data);
            match find(&arg, b"__key__") {
                Some(at) => {
                    has_key = true;
                    pieces.push(Piece::Fixed(std::mem::take(&mut fixed)));
                    // Further __key__ in the same argument get the same key.
                    let after = arg[at + 7..].to_vec();
                    pieces.push(Piece::Key(arg[..at].to_vec(), after));
                }
                None => bulk(&mut fixed, &arg),
            }
        }
        pieces.push(Piece::Fixed(fixed));
        let name = String::from_utf8_lossy(&args[0]).to_uppercase();
        Ok(Template {
            name,
            pieces,
            has_key,
        })
    }

    /// Appends the request for `key` to `out`.
    #[inline]
    pub fn encode(&self, key: &[u8], out: &mut Vec<u8>) {
        for p in &self.pieces {
            match p {
                Piece::Fixed(b) => out.extend_from_slice(b),
                Piece::Key(before, after) => {
                    let after = replace(after, b"__key__", key);
                    let len = before.len() + key.len() + after.len();
                    out.push(b'$');
                    out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(before);
                    out.extend_from_slice(key);
                    out.extend_from_slice(&after);
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
    }
}

fn bulk(out: &mut Vec<u8>, arg: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(arg.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(arg);
    out.extend_from_slice(b"\r\n");
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

fn replace(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut rest = hay;
    while let Some(at) = find(rest, needle) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(with);
        rest = &rest[at + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// The templates and a weighted picker over them.
#[derive(Debug, Clone)]
pub struct Mix {
    pub templates: Vec<Template>,
    /// Template index for each of `sum(weights)` consecutive turns.
    wheel: Vec<u16>,
}

impl Mix {
    pub fn from_args(args: &Args) -> Result<Mix, String> {
        let data = vec![b'x'; args.data_size];
        let mut specs: Vec<(u32, String)> = Vec::new();
        if args.commands.is_empty() {
            let (s, g) = args
                .ratio
                .split_once(':')
                .and_then(|(s, g)| Some((s.trim().parse().ok()?, g.trim().parse().ok()?)))
                .ok_or_else(|| format!("--ratio wants SET:GET, e.g. 1:10, not {:?}", args.ratio))?;
            if s > 0 {
                specs.push((s, "SET __key__ __data__".into()));
            }
            if g > 0 {
                specs.push((g, "GET __key__".into()));
            }
        } else {
            for c in &args.commands {
                specs.push(weighted(c));
            }
        }
        if specs.is_empty() || specs.iter().all(|(w, _)| *w == 0) {
            return Err("nothing to send: every weight is 0".into());
        }
        let mut templates: Vec<Template> = Vec::new();
        let mut wheel = Vec::new();
        for (w, text) in specs {
            let mut t = Template::parse(&text, &data)?;
            let same = templates
                .iter()
                .filter(|o| o.name.split('#').next() == Some(&t.name))
                .count();
            if same > 0 {
                t.name = format!("{}#{}", t.name, same + 1);
            }
            wheel.extend(std::iter::repeat_n(templates.len() as u16, w as usize));
            templates.push(t);
        }
        // Interleave the turns (1:10 gives S G G G G G G G G G G, spread out
        // rather than in runs) by ordering each turn by its position within
        // its own template's share.
        let mut seen = vec![0u32; templates.len()];
        let counts: Vec<u32> = (0..templates.len())
            .map(|i| wheel.iter().filter(|&&t| t as usize == i).count() as u32)
            .collect();
        let mut keyed: Vec<(f64, u16)> = wheel
            .iter()
            .map(|&t| {
                let k = seen[t as usize];
                seen[t as usize] += 1;
                ((k as f64 + 0.5) / counts[t as usize] as f64, t)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let wheel = keyed.into_iter().map(|(_, t)| t).collect();
        Ok(Mix { templates, wheel })
    }

    /// Template for turn `n` of a connection.
    #[inline]
    pub fn pick(&self, n: u64) -> usize {
        self.wheel[(n % self.wheel.len() as u64) as usize] as usize
    }
}

/// `"3:GET __key__"` → (3, "GET __key__"); no prefix → weight 1.
fn weighted(spec: &str) -> (u32, String) {
    if let Some((w, rest)) = spec.split_once(':') {
        if let Ok(w) = w.trim().parse() {
            return (w, rest.trim().to_string());
        }
    }
    (1, spec.trim().to_string())
}

/// Chooses keys for one connection.
pub struct Keys {
    prefix: Vec<u8>,
    space: u64,
    dist: Distribution,
    zipf: Option<Zipf<f64>>,
    rng: StdRng,
    /// Sequential: next key and stride (connection g of G walks g, g+G, ...).
    next: u64,
    stride: u64,
    buf: Vec<u8>,
}

impl Keys {
    /// Keys for connection `index` of `total`.
    pub fn new(args: &Args, index: u64, total: u64) -> Keys {
        let space = args.keyspace.max(1);
        Keys {
            prefix: args.key_prefix.as_bytes().to_vec(),
            space,
            dist: args.distribution,
            zipf: (args.distribution == Distribution::Zipfian)
                .then(|| Zipf::new(space, args.zipf_exponent).expect("zipf exponent > 0")),
            rng: StdRng::seed_from_u64(args.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index),
            next: index % space,
            stride: total.max(1),
            buf: Vec::with_capacity(args.key_prefix.len() + 20),
        }
    }

    /// The next key number.
    #[inline]
    pub fn next_index(&mut self) -> u64 {
        match self.dist {
            Distribution::Uniform => self.rng.gen_range(0..self.space),
            // Zipf yields 1..=n, rank 1 the most frequent.
            Distribution::Zipfian => self.rng.sample(self.zipf.as_ref().unwrap()) as u64 - 1,
            Distribution::Sequential => {
                let k = self.next;
                self.next = (self.next + self.stride) % self.space;
                k
            }
        }
    }

    /// The next key, as bytes.
    #[inline]
    pub fn next_key(&mut self) -> &[u8] {
        let n = self.next_index();
        self.buf.clear();
        self.buf.extend_from_slice(&self.prefix);
        // Zero-padded to 12 digits, as redis-benchmark's key:__rand_int__.
        let mut digits = itoa::Buffer::new();
        let d = digits.format(n).as_bytes();
        for _ in d.len()..12 {
            self.buf.push(b'0');
        }
        self.buf.extend_from_slice(d);
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_templates() {
        let t = Template::parse("HSET __key__ f __data__", b"xyz").unwrap();
        let mut out = Vec::new();
        t.encode(b"k1", &mut out);
        assert_eq!(
            out,
            b"*4\r\n$4\r\nHSET\r\n$2\r\nk1\r\n$1\r\nf\r\n$3\r\nxyz\r\n"
        );
        let t = Template::parse("SET {__key__}:a __key__", b"").unwrap();
        out.clear();
        t.encode(b"k", &mut out);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$5\r\n{k}:a\r\n$1\r\nk\r\n");
    }
}
