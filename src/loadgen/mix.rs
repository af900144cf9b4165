//! The operation mix (`--mix create=1,get=10`) and the small PRNG that draws from it.
//!
//! The PRNG only spreads requests over operations and objects; it is no source of key
//! material and must never be used as one (registered keys are load, not secrets).

use std::fmt;

/// An operation the load generator can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Create,
    Get,
    Locate,
    Destroy,
    Register,
    Encrypt,
}

/// How many operations there are.
pub const OPS: usize = 6;

impl Op {
    pub const ALL: [Op; OPS] = [
        Op::Create,
        Op::Get,
        Op::Locate,
        Op::Destroy,
        Op::Register,
        Op::Encrypt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Get => "get",
            Op::Locate => "locate",
            Op::Destroy => "destroy",
            Op::Register => "register",
            Op::Encrypt => "encrypt",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Relative weights of the operations; at least one is positive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mix {
    weights: [u32; OPS],
}

impl Mix {
    /// Parses `op=weight,...`; a bare `op` means weight 1.
    pub fn parse(text: &str) -> Result<Mix, String> {
        let mut weights = [0u32; OPS];
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = match part.split_once('=') {
                Some((n, w)) => (
                    n.trim(),
                    w.trim()
                        .parse::<u32>()
                        .map_err(|_| format!("{part:?}: the weight must be a whole number"))?,
                ),
                None => (part, 1),
            };
            let op = Op::ALL
                .into_iter()
                .find(|op| op.name() == name)
                .ok_or_else(|| {
                    format!(
                        "unknown operation {name:?} (create, get, locate, destroy, register, \
                         encrypt)"
                    )
                })?;
            weights[op.index()] = weight;
        }
        if weights.iter().all(|&w| w == 0) {
            return Err("the mix has no operation with a positive weight".into());
        }
        Ok(Mix { weights })
    }

    pub fn weight(&self, op: Op) -> u32 {
        self.weights[op.index()]
    }

    pub fn has(&self, op: Op) -> bool {
        self.weight(op) > 0
    }

    /// The operations of the mix, in [`Op::ALL`] order.
    pub fn ops(&self) -> impl Iterator<Item = Op> + '_ {
        Op::ALL.into_iter().filter(|op| self.has(*op))
    }

    pub fn pick(&self, rng: &mut Rng) -> Op {
        let total: u64 = self.weights.iter().map(|&w| u64::from(w)).sum();
        let mut ticket = rng.below(total);
        for op in Op::ALL {
            let w = u64::from(self.weight(op));
            if ticket < w {
                return op;
            }
            ticket -= w;
        }
        unreachable!("ticket below the total weight")
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .ops()
            .map(|op| format!("{}={}", op, self.weight(op)))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// SplitMix64: tiny, fast, good enough to spread load. Not for secrets.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`), with negligible bias for the sizes used here.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_picks_by_weight() {
        let mix = Mix::parse("create=1, get=3,locate").unwrap();
        assert_eq!(mix.to_string(), "create=1,get=3,locate=1");
        assert!(!mix.has(Op::Destroy));
        let mut rng = Rng::new(7);
        let mut seen = [0u32; OPS];
        for _ in 0..50_000 {
            seen[mix.pick(&mut rng).index()] += 1;
        }
        assert_eq!(seen[Op::Destroy.index()], 0);
        let ratio = f64::from(seen[Op::Get.index()]) / f64::from(seen[Op::Create.index()]);
        assert!((2.7..3.3).contains(&ratio), "{seen:?}");
    }

    #[test]
    fn refuses_bad_mixes() {
        assert!(Mix::parse("encrypt=1").unwrap().has(Op::Encrypt));
        assert!(Mix::parse("get=x").is_err());
        assert!(Mix::parse("fly=1").is_err());
        assert!(Mix::parse("get=0").is_err());
        assert!(Mix::parse("").is_err());
    }
}
