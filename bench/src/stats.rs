//! Median, min, max and percentiles of repeated measurements.

use serde_json::{json, Value};

/// `{median, min, max, runs}` of `values` (milliseconds or any unit).
pub fn summary(values: &[f64]) -> Value {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    json!({
        "median": round(percentile(&v, 50.0)),
        "min": round(v[0]),
        "max": round(v[v.len() - 1]),
        "runs": v.len(),
    })
}

/// The `p`th percentile of sorted `v` (nearest rank).
pub fn percentile(v: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

/// Three significant decimals are plenty for a report.
pub fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
