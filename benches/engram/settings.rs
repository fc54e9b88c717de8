//! The criterion settings every benchmark of this folder runs with.

use std::time::Duration;

use criterion::Criterion;

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
