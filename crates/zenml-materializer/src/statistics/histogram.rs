//! The second pass over a numeric column: its histogram.

use super::HISTOGRAM_BINS;
use crate::description::Histogram;

/// The second pass of a [`NumericColumn`]: equal-width bins between its range.
///
/// Positions are computed on halved values, so that the span between two huge values of
/// opposite signs (up to twice `f64::MAX`) stays finite.
#[derive(Debug)]
pub struct HistogramBins {
    half_min: f64,
    half_width: f64,
    /// `1 / half_width`: a multiplication per value instead of a division.
    per_half_width: f64,
    max: f64,
    /// Four sets of counts, used in turn: consecutive values of a smooth column fall into
    /// the same bin, and four counters let their increments overlap instead of waiting for
    /// each other.
    lanes: [Vec<u64>; 4],
    lane: usize,
    counts: Vec<u64>,
}

impl HistogramBins {
    pub(super) fn new(min: f64, max: f64, finite: u64) -> Self {
        if finite == 0 {
            return HistogramBins {
                half_min: 0.0,
                half_width: 0.0,
                per_half_width: 0.0,
                max: 0.0,
                lanes: Default::default(),
                lane: 0,
                counts: Vec::new(),
            };
        }
        let bins = if min == max { 1 } else { HISTOGRAM_BINS };
        let half_width = (max / 2.0 - min / 2.0) / bins as f64;
        HistogramBins {
            half_min: min / 2.0,
            half_width,
            per_half_width: if half_width > 0.0 {
                1.0 / half_width
            } else {
                0.0
            },
            max,
            lanes: std::array::from_fn(|_| vec![0; bins]),
            lane: 0,
            counts: vec![0; bins],
        }
    }

    /// Counts every value of `values` (see [`push`](Self::push)), four at a time into four
    /// sets of counters on the stack.
    pub fn push_slice<V: Copy>(&mut self, values: &[V], as_f64: impl Fn(V) -> f64) {
        if self.counts.is_empty() {
            return;
        }
        let last = self.counts.len() - 1;
        let (half_min, per_half_width) = (self.half_min, self.per_half_width);
        let mut local = [[0u64; HISTOGRAM_BINS]; 4];
        let mut quads = values.chunks_exact(4);
        for quad in &mut quads {
            for (lane, counts) in local.iter_mut().enumerate() {
                let x = as_f64(quad[lane]);
                if x.is_finite() {
                    let bin = ((x * 0.5 - half_min) * per_half_width) as usize;
                    counts[bin.min(last)] += 1;
                }
            }
        }
        for lane in &local {
            for (count, n) in self.counts.iter_mut().zip(lane) {
                *count += n;
            }
        }
        quads.remainder().iter().for_each(|&v| self.push(as_f64(v)));
    }

    /// Counts a value; NaN and infinite values are not binned.
    #[inline]
    pub fn push(&mut self, value: f64) {
        if !value.is_finite() || self.counts.is_empty() {
            return;
        }
        let last = self.counts.len() - 1;
        // A value at the edge of two bins may land in either after the rounding of the
        // multiplication; the maximum stays in the last bin.
        let bin = ((value * 0.5 - self.half_min) * self.per_half_width) as usize;
        self.lane = (self.lane + 1) & 3;
        self.lanes[self.lane][bin.min(last)] += 1;
    }

    pub(super) fn finish(mut self) -> Histogram {
        if self.counts.is_empty() {
            return Histogram::default();
        }
        for lane in &self.lanes {
            for (count, n) in self.counts.iter_mut().zip(lane) {
                *count += n;
            }
        }
        let bins = self.counts.len();
        let edges = (0..=bins)
            .map(|i| {
                if i == bins {
                    self.max
                } else {
                    (self.half_min + self.half_width * i as f64) * 2.0
                }
            })
            .collect();
        Histogram {
            edges,
            counts: self.counts,
        }
    }
}
