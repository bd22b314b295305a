//! The rate limiter as configured, not lifted: the default 30 calls a minute scaled up
//! twentyfold (600 a minute, so a call every 100 ms) against a simulator that enforces the
//! same rate with a burst of 2, so any call made faster than the pace meets a 429.

use std::time::{Duration, Instant};

use common::ingest::{Mode, Status};
use integration_tests::Harness;
use simulator::{Faults, SimulatorConfig};

/// The scaled default: 30/min x 20.
const PER_MIN: u32 = 600;
const PACE: Duration = Duration::from_millis(100);

fn enforcing(faults: Faults) -> SimulatorConfig {
    SimulatorConfig {
        rate_limit_per_min: Some(PER_MIN),
        // Two calls at once at most: a client that does not pace itself is refused.
        rate_limit_burst: Some(2),
        faults,
        ..SimulatorConfig::default()
    }
}

const VARS: [(&str, &str); 3] = [
    ("TRACKED_COINS", "bitcoin,ethereum"),
    ("TRACKED_CURRENCIES", "usd,eur"),
    ("COINGECKO_RATE_LIMIT_PER_MIN", "600"),
];

#[tokio::test]
async fn at_the_configured_pace_no_call_meets_a_429() {
    let h = Harness::start(enforcing(Faults::default()), &VARS).await;
    let started = Instant::now();
    let report = h.run(Mode::Full, false).await;
    let elapsed = started.elapsed();
    assert_eq!(report.status, Status::Succeeded, "{:?}", report.failures);
    // /coins/list, 2 metadata calls, 4 hourly range calls and 4 backfills.
    assert_eq!(report.api_calls, 11);
    assert_eq!((report.rate_limited, report.retries), (0, 0));
    assert!(h.sim.requests().iter().all(|r| r.status == 200));
    // Eleven calls paced 100 ms apart take at least ten intervals.
    assert!(
        elapsed >= PACE * 10,
        "{elapsed:?}: the calls were not paced"
    );
}

#[tokio::test]
async fn retries_are_paced_by_the_same_budget() {
    // The first three range calls fail with a 500 and are retried at once (millisecond
    // backoff): only the limiter keeps those retries from bursting into 429s.
    let h = Harness::start(
        enforcing(Faults {
            fail_first: 3,
            ..Faults::default()
        }),
        &VARS,
    )
    .await;
    let started = Instant::now();
    let report = h.run(Mode::Full, false).await;
    let elapsed = started.elapsed();
    assert_eq!(report.status, Status::Succeeded, "{:?}", report.failures);
    assert_eq!(report.retries, 3);
    // The eleven calls above and the three retries.
    assert_eq!(report.api_calls, 14);
    assert_eq!(
        report.rate_limited, 0,
        "a retry was sent faster than the pace"
    );
    let statuses: Vec<u16> = h.sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 500).count(), 3);
    assert!(!statuses.contains(&429), "{statuses:?}");
    assert!(
        elapsed >= PACE * 13,
        "{elapsed:?}: the retries were not paced"
    );
}
