//! Embeddings and the vector metrics: pgvector's three distances, written once and computed
//! in the summation order of pgvector's own build, so that SQLite ranks exactly as PostgreSQL.
//!
//! An [`Embedding`] is a checked vector of `f32`: at least one and at most
//! [`MAX_DIMENSIONS`] components, every one finite. A [`Metric`] is one of pgvector's
//! distances, with pgvector's formulas (`a` the stored vector, `b` the query, sums in `f32`):
//!
//! | metric | pgvector | distance |
//! |---|---|---|
//! | [`Metric::Cosine`] (default) | `<=>` | `1 - clamp(Σaᵢbᵢ / sqrt(Σaᵢ² · Σbᵢ²), -1, 1)`; NaN when either vector is zero |
//! | [`Metric::L2`] | `<->` | `sqrt(Σ(aᵢ - bᵢ)²)` |
//! | [`Metric::NegativeInnerProduct`] | `<#>` | `-Σaᵢbᵢ` |
//!
//! pgvector sums in `f32` in an order its compiler picks. [`Metric::distance`] reproduces the
//! order of pgvector 0.6.2 as built for x86-64 with AVX2 and FMA (eight lanes, a tree
//! reduction, one block of four, then the rest; fused multiply-adds for cosine only), which
//! is what the tests run against: there the distances are equal bit for bit. Another build
//! of pgvector may sum in another order; its distances then differ from engram's by at most
//! [`tolerance`], and rows whose distances are that close may come in either order there.
//!
//! NaN (the cosine distance of a zero vector) ranks as PostgreSQL orders it: after every
//! number, NaNs equal to each other, so such rows come last, by id.
//!
//! ```
//! use engram_core::vector::{Embedding, Metric};
//! let a = Embedding::new(vec![3.0, 4.0]).unwrap();
//! let b = Embedding::new(vec![0.0, 0.0]).unwrap();
//! assert_eq!(Metric::L2.distance(a.as_slice(), b.as_slice()), 5.0);
//! assert_eq!(Metric::NegativeInnerProduct.distance(a.as_slice(), a.as_slice()), -25.0);
//! assert!(Metric::Cosine.distance(a.as_slice(), b.as_slice()).is_nan());
//! assert_eq!(
//!     Embedding::new(vec![]).unwrap_err().to_string(),
//!     "invalid embedding: must have at least 1 dimension"
//! );
//! ```

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::{Error, Memory, Result};

/// Most components an embedding may have (pgvector's `VECTOR_MAX_DIM`).
pub const MAX_DIMENSIONS: usize = 16_000;

/// The field name used in errors and in JSON Lines.
const FIELD: &str = "embedding";

/// A memory's embedding: 1 to [`MAX_DIMENSIONS`] finite `f32` components.
///
/// In JSON it is an array of numbers. Each number is read as the nearest `f32` (as
/// pgvector's text input reads it); one too large for `f32` is infinite, so it is rejected.
#[derive(Clone, Debug, PartialEq)]
pub struct Embedding(Vec<f32>);

impl Embedding {
    /// Checks `values`: not empty, at most [`MAX_DIMENSIONS`], no NaN, no infinity.
    pub fn new(values: Vec<f32>) -> Result<Self> {
        if values.is_empty() {
            return Err(Error::invalid(FIELD, "must have at least 1 dimension"));
        }
        if values.len() > MAX_DIMENSIONS {
            return Err(Error::invalid(
                FIELD,
                format!(
                    "has {} dimensions, more than the {MAX_DIMENSIONS} allowed",
                    values.len()
                ),
            ));
        }
        if let Some((index, value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            let what = if value.is_nan() { "NaN" } else { "infinite" };
            return Err(Error::invalid(
                FIELD,
                format!("component {index} is {what}; every component must be a finite number"),
            ));
        }
        Ok(Embedding(values))
    }

    /// An embedding from a JSON array of numbers.
    ///
    /// ```
    /// use engram_core::vector::Embedding;
    /// let e = Embedding::from_json(&serde_json::json!([0.5, 1, -2e-3])).unwrap();
    /// assert_eq!(e.as_slice(), &[0.5, 1.0, -0.002]);
    /// let err = Embedding::from_json(&serde_json::json!([1, "2"])).unwrap_err();
    /// assert_eq!(err.to_string(), "invalid embedding: component 1 is not a number");
    /// ```
    pub fn from_json(value: &Value) -> Result<Self> {
        let Value::Array(items) = value else {
            return Err(Error::invalid(FIELD, "must be a JSON array of numbers"));
        };
        let values = items
            .iter()
            .enumerate()
            .map(|(index, item)| match item {
                // The number's own text, parsed straight to the nearest f32 (through f64
                // first could round twice).
                Value::Number(number) => f32::from_str(&number.to_string()).map_err(|_| {
                    Error::invalid(FIELD, format!("component {index} is not a number"))
                }),
                _ => Err(Error::invalid(
                    FIELD,
                    format!("component {index} is not a number"),
                )),
            })
            .collect::<Result<Vec<f32>>>()?;
        Embedding::new(values)
    }

    /// The components.
    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }

    /// How many components.
    pub fn dimensions(&self) -> usize {
        self.0.len()
    }

    /// The components, taken out.
    pub fn into_vec(self) -> Vec<f32> {
        self.0
    }

    /// The components as little-endian bytes, four per component (SQLite's storage).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// The components of little-endian bytes written by [`Embedding::to_le_bytes`], checked
    /// as [`Embedding::new`] checks them.
    pub fn from_le_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() % 4 != 0 {
            return Err(Error::invalid(
                FIELD,
                format!("{} bytes are not a whole number of f32s", bytes.len()),
            ));
        }
        Embedding::new(LeBytes(bytes).to_vec())
    }

    /// The error for an embedding whose dimensions differ from those the store holds.
    pub fn dimension_mismatch(given: usize, stored: usize) -> Error {
        Error::invalid(
            FIELD,
            format!(
                "has {given} dimensions, but this store's embeddings have {stored}; \
                 every embedding in a store has the same dimensions"
            ),
        )
    }

    /// The mismatch error when `given` dimensions differ from the `stored` ones.
    pub fn dimension_mismatch_check(given: usize, stored: Option<usize>) -> Result<()> {
        match stored {
            Some(stored) if stored != given => Err(Embedding::dimension_mismatch(given, stored)),
            _ => Ok(()),
        }
    }

    /// Checks that this embedding has the store's dimensions (`None`: the store has none
    /// fixed yet, so any dimension is accepted).
    pub fn check_dimensions(&self, stored: Option<usize>) -> Result<()> {
        Embedding::dimension_mismatch_check(self.dimensions(), stored)
    }
}

/// The dimensions shared by the embeddings of a batch of `memories` (`None` when none has
/// one), or, for the first memory whose embedding differs from the batch's first one, an
/// error naming it (`memory #N of the batch`): a batch fixes one dimension.
///
/// ```
/// use engram_core::{validate, vector::common_dimensions, Embedding, NewMemory, Timestamp};
/// let memory = |values: Vec<f32>| {
///     let new = NewMemory::new("a", "x").embedding(Embedding::new(values).unwrap());
///     validate::new_memory(new, Timestamp::from_micros(0)).unwrap()
/// };
/// assert_eq!(common_dimensions(&[memory(vec![1.0, 2.0])]).unwrap(), Some(2));
/// let err = common_dimensions(&[memory(vec![1.0, 2.0]), memory(vec![1.0])]).unwrap_err();
/// assert!(err.to_string().ends_with("(memory #2 of the batch)"), "{err}");
/// ```
pub fn common_dimensions(memories: &[Memory]) -> Result<Option<usize>> {
    let mut first = None;
    for (index, embedding) in memories
        .iter()
        .enumerate()
        .filter_map(|(index, m)| Some((index, m.embedding.as_ref()?)))
    {
        match first {
            None => first = Some(embedding.dimensions()),
            Some(dimensions) if dimensions != embedding.dimensions() => {
                return Err(Error::invalid(
                    FIELD,
                    format!(
                        "has {} dimensions, but the batch's first embedding has {dimensions}; \
                         every embedding in a store has the same dimensions \
                         (memory #{} of the batch)",
                        embedding.dimensions(),
                        index + 1
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(first)
}

impl Serialize for Embedding {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Embedding {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Embedding::from_json(&value).map_err(serde::de::Error::custom)
    }
}

/// A vector distance, as pgvector defines it (see the [module documentation](self)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Cosine distance, pgvector's `<=>` (the default).
    #[default]
    Cosine,
    /// Euclidean distance, pgvector's `<->`.
    L2,
    /// Negative inner product, pgvector's `<#>`.
    #[serde(rename = "inner")]
    NegativeInnerProduct,
}

impl Metric {
    /// Every metric.
    pub const ALL: [Metric; 3] = [Metric::Cosine, Metric::L2, Metric::NegativeInnerProduct];

    /// The metric's name: `cosine`, `l2` or `inner`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::L2 => "l2",
            Metric::NegativeInnerProduct => "inner",
        }
    }

    /// pgvector's operator for this metric.
    pub fn pgvector_operator(self) -> &'static str {
        match self {
            Metric::Cosine => "<=>",
            Metric::L2 => "<->",
            Metric::NegativeInnerProduct => "<#>",
        }
    }

    /// pgvector's operator class for an index on this metric.
    pub fn pgvector_opclass(self) -> &'static str {
        match self {
            Metric::Cosine => "vector_cosine_ops",
            Metric::L2 => "vector_l2_ops",
            Metric::NegativeInnerProduct => "vector_ip_ops",
        }
    }

    /// The distance from `stored` to `query` (equal lengths; the shorter length is used
    /// otherwise), in pgvector's formula and summation order.
    pub fn distance(self, stored: &[f32], query: &[f32]) -> f64 {
        self.distance_of(stored, query)
    }

    /// [`Metric::distance`] of two vectors given as little-endian bytes (SQLite's storage),
    /// read in place.
    pub fn distance_of_le_bytes(self, stored: &[u8], query: &[u8]) -> f64 {
        self.distance_of(LeBytes(stored), LeBytes(query))
    }

    fn distance_of<A: Components, B: Components>(self, a: A, b: B) -> f64 {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("avx2")
            {
                // SAFETY: the CPU has FMA and AVX2, checked just above.
                return unsafe { kernel::distance_with_fma(self, a, b) };
            }
        }
        kernel::distance(self, a, b)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = Error;

    /// `cosine`, `l2` or `inner` (also pgvector's operators `<=>`, `<->`, `<#>`).
    fn from_str(text: &str) -> Result<Self> {
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == text || m.pgvector_operator() == text)
            .ok_or_else(|| {
                Error::invalid(
                    "metric",
                    format!("unknown metric {text:?}: expected cosine, l2 or inner"),
                )
            })
    }
}

/// The order of distances in a ranking: by value, NaN after every number and equal to NaN
/// (as PostgreSQL orders `float8`).
///
/// ```
/// use std::cmp::Ordering;
/// use engram_core::vector::rank_order;
/// assert_eq!(rank_order(f64::INFINITY, f64::NAN), Ordering::Less);
/// assert_eq!(rank_order(f64::NAN, f64::NAN), Ordering::Equal);
/// assert_eq!(rank_order(-0.0, 0.0), Ordering::Equal);
/// ```
pub fn rank_order(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// How far a distance computed by another build of pgvector (another summation order) may
/// be from engram's, for vectors `a` and `b`: `4 n ε` (n the dimensions, ε = 2⁻²³ the
/// `f32` rounding unit) times the magnitude the sum is made of, which bounds any order of
/// `f32` summation.
///
/// - L2: relative, of the distance itself (its square root halves the sum's error).
/// - Negative inner product: absolute, `4 n ε Σ|aᵢbᵢ|`.
/// - Cosine: absolute, `4 n ε (Σ|aᵢbᵢ| / sqrt(Σaᵢ² Σbᵢ²) + 1)`.
///
/// Two rows whose distances differ by less than this may rank in either order on another
/// build; on the build the tests use the distances are the same bits, so the order is too.
pub fn tolerance(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    let bound = 4.0 * n * f64::from(f32::EPSILON);
    let pairs = a.iter().zip(b);
    let abs_dot: f64 = pairs
        .clone()
        .map(|(x, y)| (f64::from(*x) * f64::from(*y)).abs())
        .sum();
    match metric {
        Metric::L2 => {
            let distance: f64 = pairs
                .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
                .sum::<f64>()
                .sqrt();
            bound * distance
        }
        Metric::NegativeInnerProduct => bound * abs_dot,
        Metric::Cosine => {
            let norms = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>()
                * b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>();
            if norms == 0.0 {
                0.0
            } else {
                bound * (abs_dot / norms.sqrt() + 1.0)
            }
        }
    }
}

/// A vector's components, read by index or eight at a time: a slice of `f32`, or
/// little-endian bytes read in place.
trait Components: Copy {
    fn len(&self) -> usize;
    fn at(&self, index: usize) -> f32;
    /// Components `index .. index + 8` (the caller keeps within [`Components::len`]).
    fn block(&self, index: usize) -> [f32; 8];
    /// The first component's address, for unaligned vector loads (little-endian bytes are
    /// `f32`s in memory on x86-64).
    #[cfg(target_arch = "x86_64")]
    fn as_ptr(&self) -> *const f32;
}

impl Components for &[f32] {
    #[inline(always)]
    fn len(&self) -> usize {
        <[f32]>::len(self)
    }

    #[inline(always)]
    fn at(&self, index: usize) -> f32 {
        self[index]
    }

    #[inline(always)]
    fn block(&self, index: usize) -> [f32; 8] {
        let mut block = [0f32; 8];
        block.copy_from_slice(&self[index..index + 8]);
        block
    }

    #[cfg(target_arch = "x86_64")]
    fn as_ptr(&self) -> *const f32 {
        <[f32]>::as_ptr(self)
    }
}

#[derive(Clone, Copy)]
struct LeBytes<'a>(&'a [u8]);

impl LeBytes<'_> {
    fn to_vec(self) -> Vec<f32> {
        (0..self.len()).map(|i| self.at(i)).collect()
    }
}

impl Components for LeBytes<'_> {
    #[inline(always)]
    fn len(&self) -> usize {
        self.0.len() / 4
    }

    #[inline(always)]
    fn at(&self, index: usize) -> f32 {
        let start = index * 4;
        let mut word = [0u8; 4];
        word.copy_from_slice(&self.0[start..start + 4]);
        f32::from_le_bytes(word)
    }

    #[inline(always)]
    fn block(&self, index: usize) -> [f32; 8] {
        let bytes = &self.0[index * 4..index * 4 + 32];
        std::array::from_fn(|j| {
            f32::from_le_bytes([
                bytes[4 * j],
                bytes[4 * j + 1],
                bytes[4 * j + 2],
                bytes[4 * j + 3],
            ])
        })
    }

    #[cfg(target_arch = "x86_64")]
    fn as_ptr(&self) -> *const f32 {
        self.0.as_ptr().cast()
    }
}

/// pgvector 0.6.2's distance loops in the order its x86-64 build runs them, with every sum
/// of a metric taken in one pass over the two vectors (each sum in its own order, so the
/// result is the same as one pass per sum).
mod kernel {
    use super::{Components, Metric};

    /// The eight-lane part of the sums, computed with AVX2 and FMA instructions (one
    /// register holds the eight lanes, each lane adding the same terms in the same order as
    /// [`portable_lanes`]), then the rest as [`distance`] does it. The results are the same
    /// bits as [`distance`]'s; only the speed differs.
    ///
    /// # Safety
    ///
    /// The CPU must support FMA and AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn distance_with_fma<A: Components, B: Components>(
        metric: Metric,
        a: A,
        b: B,
    ) -> f64 {
        use std::arch::x86_64::*;
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        // Runs `step` over the blocks of eight below `main`, with S registers of lanes, and
        // returns the lanes.
        #[inline(always)]
        unsafe fn lanes<const S: usize>(
            main: usize,
            pa: *const f32,
            pb: *const f32,
            step: impl Fn(&mut [__m256; S], __m256, __m256),
        ) -> [[f32; 8]; S] {
            let mut acc = [_mm256_setzero_ps(); S];
            let mut i = 0;
            while i < main {
                // SAFETY: i + 8 <= main <= the length of both vectors.
                let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
                step(&mut acc, x, y);
                i += 8;
            }
            let mut out = [[0f32; 8]; S];
            for (lane, register) in out.iter_mut().zip(acc) {
                // SAFETY: `lane` has room for eight f32s.
                unsafe { _mm256_storeu_ps(lane.as_mut_ptr(), register) };
            }
            out
        }
        match metric {
            Metric::L2 => {
                let [sum] = sums::<1, false>(n, a, b, l2_factors, |main| unsafe {
                    lanes::<1>(main, pa, pb, |acc, x, y| {
                        let d = _mm256_sub_ps(x, y);
                        acc[0] = _mm256_add_ps(acc[0], _mm256_mul_ps(d, d));
                    })
                });
                f64::from(sum).sqrt()
            }
            Metric::NegativeInnerProduct => {
                let [sum] = sums::<1, false>(n, a, b, inner_factors, |main| unsafe {
                    lanes::<1>(main, pa, pb, |acc, x, y| {
                        acc[0] = _mm256_add_ps(acc[0], _mm256_mul_ps(x, y));
                    })
                });
                -f64::from(sum)
            }
            Metric::Cosine => {
                let sums = sums::<3, true>(n, a, b, cosine_factors, |main| unsafe {
                    lanes::<3>(main, pa, pb, |acc, x, y| {
                        acc[0] = _mm256_fmadd_ps(x, y, acc[0]);
                        acc[1] = _mm256_fmadd_ps(x, x, acc[1]);
                        acc[2] = _mm256_fmadd_ps(y, y, acc[2]);
                    })
                });
                cosine(sums)
            }
        }
    }

    #[inline(always)]
    pub(super) fn distance<A: Components, B: Components>(metric: Metric, a: A, b: B) -> f64 {
        let n = a.len().min(b.len());
        match metric {
            Metric::L2 => {
                let [sum] = sums::<1, false>(n, a, b, l2_factors, |main| {
                    portable_lanes::<1, false>(main, a, b, l2_factors)
                });
                f64::from(sum).sqrt()
            }
            Metric::NegativeInnerProduct => {
                let [sum] = sums::<1, false>(n, a, b, inner_factors, |main| {
                    portable_lanes::<1, false>(main, a, b, inner_factors)
                });
                -f64::from(sum)
            }
            Metric::Cosine => cosine(sums::<3, true>(n, a, b, cosine_factors, |main| {
                portable_lanes::<3, true>(main, a, b, cosine_factors)
            })),
        }
    }

    /// `<->` sums `(aᵢ - bᵢ)²` with a separate multiply and add.
    #[inline(always)]
    fn l2_factors(x: f32, y: f32) -> [(f32, f32); 1] {
        let d = x - y;
        [(d, d)]
    }

    /// `<#>` sums `aᵢbᵢ` with a separate multiply and add.
    #[inline(always)]
    fn inner_factors(x: f32, y: f32) -> [(f32, f32); 1] {
        [(x, y)]
    }

    /// `<=>` sums `aᵢbᵢ`, `aᵢ²` and `bᵢ²` with fused multiply-adds.
    #[inline(always)]
    fn cosine_factors(x: f32, y: f32) -> [(f32, f32); 3] {
        [(x, y), (x, x), (y, y)]
    }

    /// pgvector's cosine distance of its three sums: `sqrt(a * b)` rather than
    /// `sqrt(a) * sqrt(b)`, clamped; 0/0 is NaN.
    #[inline(always)]
    fn cosine([dot, norm_a, norm_b]: [f32; 3]) -> f64 {
        let similarity = f64::from(dot) / (f64::from(norm_a) * f64::from(norm_b)).sqrt();
        1.0 - similarity.clamp(-1.0, 1.0)
    }

    /// Adds `p` times `q` to `acc`, fused or not.
    #[inline(always)]
    fn step<const FUSED: bool>(acc: f32, (p, q): (f32, f32)) -> f32 {
        if FUSED {
            p.mul_add(q, acc)
        } else {
            acc + p * q
        }
    }

    /// The eight lanes of each sum over the terms below `main` (a multiple of eight): lane
    /// `j` adds terms `j`, `j + 8`, `j + 16`, … in that order.
    #[inline(always)]
    fn portable_lanes<const S: usize, const FUSED: bool>(
        main: usize,
        a: impl Components,
        b: impl Components,
        factors: impl Fn(f32, f32) -> [(f32, f32); S],
    ) -> [[f32; 8]; S] {
        let mut lanes = [[0f32; 8]; S];
        let mut i = 0;
        while i < main {
            let (x, y) = (a.block(i), b.block(i));
            for j in 0..8 {
                let terms = factors(x[j], y[j]);
                for s in 0..S {
                    lanes[s][j] = step::<FUSED>(lanes[s][j], terms[s]);
                }
            }
            i += 8;
        }
        lanes
    }

    /// `S` sums of products `Σ pᵢqᵢ` at once, where `factors(aᵢ, bᵢ)` gives each sum's
    /// `(pᵢ, qᵢ)`, in pgvector's order: eight lanes over the first `n / 8 * 8` terms (from
    /// `lanes`), reduced as `((l3 + l7) + (l1 + l5)) + ((l2 + l6) + (l0 + l4))`; then, when
    /// four or more terms remain, one block of four products added as
    /// `(t3 + t1) + (t2 + t0)` (never fused); then the last terms one by one. `FUSED`: the
    /// lanes and the last terms add with fused multiply-adds.
    #[inline(always)]
    fn sums<const S: usize, const FUSED: bool>(
        n: usize,
        a: impl Components,
        b: impl Components,
        factors: impl Fn(f32, f32) -> [(f32, f32); S],
        lanes: impl FnOnce(usize) -> [[f32; 8]; S],
    ) -> [f32; S] {
        let mut totals = [0f32; S];
        let mut i = 0;
        if n >= 8 {
            let main = n / 8 * 8;
            for (total, l) in totals.iter_mut().zip(lanes(main)) {
                let x: [f32; 4] = std::array::from_fn(|j| l[j + 4] + l[j]);
                *total = (x[3] + x[1]) + (x[2] + x[0]);
            }
            i = main;
        }
        if n - i >= 4 {
            let terms: [[(f32, f32); S]; 4] =
                std::array::from_fn(|j| factors(a.at(i + j), b.at(i + j)));
            for (s, total) in totals.iter_mut().enumerate() {
                let t: [f32; 4] = std::array::from_fn(|j| terms[j][s].0 * terms[j][s].1);
                *total += (t[3] + t[1]) + (t[2] + t[0]);
            }
            i += 4;
        }
        while i < n {
            let terms = factors(a.at(i), b.at(i));
            for (total, term) in totals.iter_mut().zip(terms) {
                *total = step::<FUSED>(*total, term);
            }
            i += 1;
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_embeddings_are_rejected_with_one_message_each() {
        let message = |values: Vec<f32>| Embedding::new(values).unwrap_err().to_string();
        assert_eq!(
            message(vec![1.0, f32::NAN]),
            "invalid embedding: component 1 is NaN; every component must be a finite number"
        );
        assert_eq!(
            message(vec![f32::NEG_INFINITY]),
            "invalid embedding: component 0 is infinite; every component must be a finite number"
        );
        assert_eq!(
            message(vec![0.0; MAX_DIMENSIONS + 1]),
            "invalid embedding: has 16001 dimensions, more than the 16000 allowed"
        );
        assert!(Embedding::new(vec![0.0; MAX_DIMENSIONS]).is_ok());
        let too_big = Embedding::from_json(&serde_json::json!([1e39])).unwrap_err();
        assert!(too_big.to_string().contains("infinite"), "{too_big}");
        let not_array = Embedding::from_json(&serde_json::json!({"a": 1})).unwrap_err();
        assert_eq!(
            not_array.to_string(),
            "invalid embedding: must be a JSON array of numbers"
        );
    }

    #[test]
    fn numbers_are_read_as_the_nearest_f32() {
        // 16777217 = 2^24 + 1 is halfway between two f32s; through f64 it is exact, then
        // rounds to even. A number just above halfway must round up, which a detour
        // through a rounded f64 can miss.
        let e = Embedding::from_json(&serde_json::json!([0.1, 16777217, 1e-50])).unwrap();
        assert_eq!(e.as_slice(), &[0.1f32, 16777216.0, 0.0]);
        let text: Value = serde_json::from_str("[1.00000005960464477539062500001]").unwrap();
        assert_eq!(
            Embedding::from_json(&text).unwrap().as_slice(),
            &[1.000_000_1f32]
        );
    }

    #[test]
    fn bytes_round_trip_and_bad_lengths_are_errors() {
        let e = Embedding::new(vec![1.5, -0.0, 3e-40]).unwrap();
        let bytes = e.to_le_bytes();
        assert_eq!(bytes.len(), 12);
        assert_eq!(Embedding::from_le_bytes(&bytes).unwrap(), e);
        assert!(Embedding::from_le_bytes(&bytes[..5]).is_err());
        for metric in Metric::ALL {
            let q = [0.5f32, 2.0, -1.0];
            let from_bytes = metric
                .distance_of_le_bytes(&bytes, &Embedding::new(q.to_vec()).unwrap().to_le_bytes());
            let from_slices = metric.distance(e.as_slice(), &q);
            assert_eq!(from_bytes.to_bits(), from_slices.to_bits(), "{metric}");
        }
    }

    #[test]
    fn the_summation_order_is_pgvectors() {
        // 1e8 + 1 - 1e8 in f32 depends on the order of the sum. With 1e8 and -1e8 in
        // lane 0 and 1 in lane 1, pgvector's order gives 1; a sequential sum gives
        // (1e8 + 1) - 1e8 = 0, since 1e8 + 1 rounds to 1e8.
        let mut b = vec![0f32; 16];
        b[0] = 1e8;
        b[1] = 1.0;
        b[8] = -1e8;
        let ones = vec![1f32; 16];
        assert_eq!(Metric::NegativeInnerProduct.distance(&b, &ones), -1.0);
        // The block of four after the lanes, then the tail: 20 terms = 16 + 4.
        let mut c = vec![0f32; 21];
        c[16] = 1e8;
        c[17] = 1.0;
        c[19] = -1e8;
        c[20] = 1.0;
        let ones = vec![1f32; 21];
        // Block: (t3 + t1) + (t2 + t0) = (-1e8 + 1) + (0 + 1e8) = -1e8 + 1e8 = 0; tail + 1.
        assert_eq!(Metric::NegativeInnerProduct.distance(&c, &ones), -1.0);
    }

    /// The vector-instruction kernel and the portable one give the same bits, for every
    /// length (each split into lanes, block and tail) and all three metrics.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_fast_kernel_gives_the_portable_kernels_bits() {
        if !(std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("avx2"))
        {
            return;
        }
        // A small deterministic generator: values of many magnitudes and signs.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mantissa = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            let scale = [1.0, 1e-20, 1e18, 3.0, 1e-3][(state % 5) as usize];
            mantissa * scale
        };
        for n in (1..=70).chain([384, 385, 1536]) {
            for _ in 0..20 {
                let a: Vec<f32> = (0..n).map(|_| next()).collect();
                let b: Vec<f32> = (0..n).map(|_| next()).collect();
                for metric in Metric::ALL {
                    let portable = kernel::distance(metric, a.as_slice(), b.as_slice());
                    // SAFETY: the CPU has FMA and AVX2, checked above.
                    let fast =
                        unsafe { kernel::distance_with_fma(metric, a.as_slice(), b.as_slice()) };
                    assert!(
                        portable.to_bits() == fast.to_bits()
                            || (portable.is_nan() && fast.is_nan()),
                        "{metric}, n = {n}: {portable} and {fast}"
                    );
                }
            }
        }
    }

    #[test]
    fn cosine_of_a_zero_vector_is_nan_and_ranks_last() {
        let zero = [0f32; 3];
        let one = [1f32, 2.0, 3.0];
        assert!(Metric::Cosine.distance(&zero, &one).is_nan());
        assert!(Metric::Cosine.distance(&zero, &zero).is_nan());
        assert_eq!(Metric::L2.distance(&zero, &one), 14f64.sqrt());
        let mut distances = [f64::NAN, 2.0, f64::INFINITY, -1.0];
        distances.sort_by(|a, b| rank_order(*a, *b));
        assert_eq!(distances[..3], [-1.0, 2.0, f64::INFINITY]);
        assert!(distances[3].is_nan());
    }

    #[test]
    fn metrics_parse_by_name_and_operator() {
        assert_eq!("l2".parse::<Metric>().unwrap(), Metric::L2);
        assert_eq!(
            "<#>".parse::<Metric>().unwrap(),
            Metric::NegativeInnerProduct
        );
        assert_eq!(
            "dot".parse::<Metric>().unwrap_err().to_string(),
            "invalid metric: unknown metric \"dot\": expected cosine, l2 or inner"
        );
        assert_eq!(Metric::default(), Metric::Cosine);
    }

    #[test]
    fn the_tolerance_bounds_a_sequential_sum() {
        let a: Vec<f32> = (0..384)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let b: Vec<f32> = (0..384)
            .map(|i| ((i * 53 % 97) as f32 - 48.0) / 3.0)
            .collect();
        let sequential_dot: f32 = a.iter().zip(&b).fold(0.0, |s, (x, y)| s + x * y);
        let engram = Metric::NegativeInnerProduct.distance(&a, &b);
        let gap = (engram - -f64::from(sequential_dot)).abs();
        assert!(
            gap <= tolerance(Metric::NegativeInnerProduct, &a, &b),
            "{gap}"
        );
    }
}
