//! The criterion settings every benchmark of this folder runs with, and how each one runs
//! its operation.

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion};

/// Criterion's defaults when `full` (`ENGRAM_BENCH_FULL=1`), else the short run: 20
/// samples, 0.5 s warm-up, 1.5 s measurement; command-line arguments apply on top.
pub fn criterion(full: bool) -> Criterion {
    let criterion = Criterion::default();
    let criterion = if full {
        criterion
    } else {
        criterion
            .sample_size(20)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_millis(1500))
            .nresamples(20_000)
    };
    criterion.configure_from_args()
}

/// Benchmarks `op`, called with a counter (1, 2, …) that picks the sampled id, key or query.
pub fn run<O>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    mut op: impl FnMut(usize) -> O,
) {
    group.bench_function(id, |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            op(i)
        })
    });
}
