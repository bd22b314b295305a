//! A bounded HTTP load generator for `make soak`: `concurrency` workers loop over `path` for
//! `seconds`, recording each answer's status and time. With `--outage-at`/`--outage-secs` the
//! caller crashes and restarts PostgreSQL meanwhile; the report says which statuses came back
//! and how long after the restart the first success arrived.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::Mutex;

pub async fn run(base: &str, paths: &[String], seconds: u64, concurrency: usize) -> Value {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let samples: Arc<Mutex<Vec<(f64, u16, f64)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let (client, samples, base) = (client.clone(), samples.clone(), base.to_owned());
        let paths = paths.to_vec();
        workers.push(tokio::spawn(async move {
            let mut local = Vec::new();
            let mut i = w;
            while Instant::now() < end {
                let path = &paths[i % paths.len()];
                i += 1;
                let sent = Instant::now();
                let status = match client.get(format!("{base}{path}")).send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let _ = r.bytes().await;
                        status
                    }
                    Err(_) => 0, // connection error or timeout
                };
                local.push((
                    (sent - started).as_secs_f64(),
                    status,
                    sent.elapsed().as_secs_f64() * 1000.0,
                ));
            }
            samples.lock().await.extend(local);
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let samples = samples.lock().await;
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    for (_, s, _) in samples.iter() {
        *statuses.entry(s.to_string()).or_default() += 1;
    }
    let mut latencies: Vec<f64> = samples.iter().filter(|s| s.1 == 200).map(|s| s.2).collect();
    latencies.sort_by(f64::total_cmp);
    // Failure window: first and last non-200 answer, and the first 200 after the last one.
    let failures: Vec<f64> = samples
        .iter()
        .filter(|s| s.1 != 200 && s.1 != 304)
        .map(|s| s.0)
        .collect();
    let first_failure = failures.iter().cloned().fold(f64::INFINITY, f64::min);
    let last_failure = failures.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let recovered_at = samples
        .iter()
        .filter(|s| s.1 == 200 && s.0 > last_failure)
        .map(|s| s.0)
        .fold(f64::INFINITY, f64::min);
    json!({
        "seconds": seconds,
        "concurrency": concurrency,
        "requests": samples.len(),
        "requests_per_second": (samples.len() as f64 / seconds as f64).round(),
        "statuses": statuses,
        "p50_ms": if latencies.is_empty() { 0.0 } else { crate::stats::round(crate::stats::percentile(&latencies, 50.0)) },
        "p99_ms": if latencies.is_empty() { 0.0 } else { crate::stats::round(crate::stats::percentile(&latencies, 99.0)) },
        "failure_window_s": if failures.is_empty() { Value::Null } else {
            json!({"first": crate::stats::round(first_failure), "last": crate::stats::round(last_failure),
                   "first_success_after": if recovered_at.is_finite() { json!(crate::stats::round(recovered_at)) } else { Value::Null }})
        },
    })
}
