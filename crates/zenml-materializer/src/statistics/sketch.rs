//! The sketches behind column statistics: distinct values (exact while few, then a
//! HyperLogLog) and a uniform sample for quantiles.

use crate::description::{DistinctCount, SAMPLE_SIZE};

/// How many distinct values are kept exactly before the count becomes an estimate.
pub(super) const EXACT_DISTINCT: usize = 32;

/// HyperLogLog's register index bits: 4,096 registers, a standard error of 1.04 / 64 (1.6 %).
const HLL_BITS: u32 = 12;

/// A HyperLogLog sketch (Flajolet et al., 2007) of 64-bit hashes, with linear counting for
/// small cardinalities.
#[derive(Debug, Clone)]
pub(super) struct HyperLogLog {
    registers: Vec<u8>,
}

impl HyperLogLog {
    pub(super) fn new() -> Self {
        HyperLogLog {
            registers: vec![0; 1 << HLL_BITS],
        }
    }

    #[inline(always)]
    pub(super) fn insert_hash(&mut self, hash: u64) {
        let index = (hash >> (64 - HLL_BITS)) as usize;
        // The position of the first 1 bit in the rest, counting from 1; a sentinel bit
        // bounds it.
        let rank = ((hash << HLL_BITS) | (1 << (HLL_BITS - 1))).leading_zeros() as u8 + 1;
        // Branchless: whether a register grows is a coin toss the processor cannot predict.
        let register = &mut self.registers[index];
        *register = (*register).max(rank);
    }

    pub(super) fn estimate(&self) -> u64 {
        let m = self.registers.len() as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let sum: f64 = self.registers.iter().map(|&r| (-f64::from(r)).exp2()).sum();
        let raw = alpha * m * m / sum;
        let zeros = self.registers.iter().filter(|&&r| r == 0).count();
        let estimate = if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        estimate.round() as u64
    }
}

/// Counts distinct 64-bit keys: exactly for the first [`EXACT_DISTINCT`], then as a
/// HyperLogLog estimate.
#[derive(Debug)]
pub(super) struct DistinctKeys {
    exact: Vec<u64>,
    pub(super) estimator: Option<HyperLogLog>,
}

impl DistinctKeys {
    pub(super) fn new() -> Self {
        DistinctKeys {
            exact: Vec::new(),
            estimator: None,
        }
    }

    #[inline]
    pub(super) fn insert(&mut self, key: u64) {
        if let Some(estimator) = &mut self.estimator {
            estimator.insert_hash(mix(key));
        } else if !self.exact.contains(&key) {
            self.exact.push(key);
            if self.exact.len() > EXACT_DISTINCT {
                let mut estimator = HyperLogLog::new();
                for key in self.exact.drain(..) {
                    estimator.insert_hash(mix(key));
                }
                self.estimator = Some(estimator);
            }
        }
    }

    pub(super) fn count(&self) -> DistinctCount {
        match &self.estimator {
            Some(estimator) => DistinctCount {
                value: estimator.estimate(),
                exact: false,
            },
            None => DistinctCount {
                value: self.exact.len() as u64,
                exact: true,
            },
        }
    }
}

/// A 64-bit mixer (the finalizer of MurmurHash3): equal keys hash equal, and nearby keys
/// (consecutive integers) spread over every bit, as HyperLogLog needs.
#[inline]
pub(super) fn mix(mut key: u64) -> u64 {
    key ^= key >> 33;
    key = key.wrapping_mul(0xff51_afd7_ed55_8ccd);
    key ^= key >> 33;
    key = key.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    key ^ (key >> 33)
}

/// A uniform random sample of a stream (Li's algorithm L): each value of the stream is in
/// the sample with equal probability, and the generator runs only when a value is taken.
/// Seeded with a constant, so the same column gives the same sample.
#[derive(Debug)]
pub(super) struct Reservoir {
    values: Vec<f64>,
    seen: u64,
    skip: u64,
    w: f64,
    state: u64,
}

impl Reservoir {
    pub(super) fn new() -> Self {
        let mut reservoir = Reservoir {
            values: Vec::new(),
            seen: 0,
            skip: 0,
            w: 1.0,
            state: 0x9e37_79b9_7f4a_7c15,
        };
        reservoir.w = (reservoir.uniform().ln() / SAMPLE_SIZE as f64).exp();
        reservoir
    }

    /// A uniform value in (0, 1) from SplitMix64.
    fn uniform(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let bits = mix(self.state) >> 11;
        (bits as f64 + 0.5) / (1u64 << 53) as f64
    }

    #[inline]
    pub(super) fn push(&mut self, value: f64) {
        self.seen += 1;
        if self.values.len() < SAMPLE_SIZE {
            self.values.push(value);
            if self.values.len() == SAMPLE_SIZE {
                self.plan_next();
            }
        } else if self.skip > 0 {
            self.skip -= 1;
        } else {
            let slot = (self.uniform() * SAMPLE_SIZE as f64) as usize;
            self.values[slot.min(SAMPLE_SIZE - 1)] = value;
            self.w *= (self.uniform().ln() / SAMPLE_SIZE as f64).exp();
            self.plan_next();
        }
    }

    /// Takes every value of `values`, in order: as many [`push`](Self::push)es, but the
    /// values the sample skips are passed over without looking at them.
    pub(super) fn push_slice(&mut self, values: &[f64]) {
        let mut rest = values;
        while let Some((&first, tail)) = rest.split_first() {
            if self.values.len() < SAMPLE_SIZE {
                self.push(first);
                rest = tail;
                continue;
            }
            let len = rest.len() as u64;
            if self.skip >= len {
                self.skip -= len;
                self.seen += len;
                return;
            }
            // Pass over `skip` values, then take the next one.
            let skipped = self.skip as usize;
            self.seen += self.skip;
            self.skip = 0;
            self.push(rest[skipped]);
            rest = &rest[skipped + 1..];
        }
    }

    fn plan_next(&mut self) {
        let skip = (self.uniform().ln() / (1.0 - self.w).ln()).floor();
        self.skip = if skip.is_finite() && skip >= 0.0 {
            skip as u64
        } else {
            u64::MAX
        };
    }

    /// The sample sorted, and whether it holds every value pushed.
    pub(super) fn into_sorted(mut self) -> (Vec<f64>, bool) {
        self.values.sort_unstable_by(f64::total_cmp);
        let exact = self.seen == self.values.len() as u64;
        (self.values, exact)
    }
}
