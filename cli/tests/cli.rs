//! The real `crypto-dashboard` binary, as an operator or a script runs it: what goes to
//! stdout and stderr, help texts, error messages and the coverage report.
//!
//! These tests live in the binary's own package so Cargo builds the binary first and
//! hands its path over as `CARGO_BIN_EXE_crypto-dashboard`; the databases and the CoinGecko
//! simulator come from the `integration-tests` support library. Each child process gets a
//! cleared environment, so nothing of the test runner's (its admin `DATABASE_URL`) leaks in.
//! Its stdout and stderr are pipes, never a terminal: this is the non-interactive mode.

use integration_tests::{unreachable_database_url, TestDb};
use serde_json::Value;
use simulator::{RunningSimulator, SimulatorConfig};

/// What one run of the binary printed.
#[derive(Debug)]
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self:?}"))
    }

    fn assert_no_control_characters(&self) {
        for (name, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            assert!(
                !text.contains('\x1b'),
                "escape sequence in {name}: {text:?}"
            );
            assert!(!text.contains('\r'), "carriage return in {name}: {text:?}");
        }
    }
}

/// Runs the binary with only `env` set (blocking: for tests without a runtime).
fn run_blocking(args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_crypto-dashboard"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// Runs the binary off the runtime's threads, so an in-process simulator keeps answering.
async fn run(args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_blocking(&args, &env)
    })
    .await
    .expect("the runner thread does not panic")
}

/// A migrated database and a simulator tracking `coins` in usd and eur.
struct Setup {
    db: TestDb,
    sim: RunningSimulator,
    coins: String,
}

impl Setup {
    async fn start(coins: &str) -> Setup {
        let sim = simulator::start(SimulatorConfig::default(), "127.0.0.1:0".parse().unwrap())
            .await
            .expect("simulator starts");
        Setup {
            db: TestDb::migrated().await,
            sim,
            coins: coins.into(),
        }
    }

    async fn run(&self, args: &[&str]) -> Outcome {
        let base = self.sim.base_url();
        run(
            args,
            &[
                ("DATABASE_URL", &self.db.url),
                ("COINGECKO_BASE_URL", &base),
                ("COINGECKO_RATE_LIMIT_PER_MIN", "100000"),
                ("TRACKED_COINS", &self.coins),
                ("TRACKED_CURRENCIES", "usd,eur"),
            ],
        )
        .await
    }
}

#[test]
fn every_command_explains_itself_with_an_example() {
    for command in [
        vec![],
        vec!["migrate"],
        vec!["ingest"],
        vec!["status"],
        vec!["serve"],
        vec!["simulate-coingecko"],
    ] {
        let mut args = command.clone();
        args.push("--help");
        let out = run_blocking(&args, &[]);
        assert_eq!(out.code, Some(0), "{args:?}: {out:?}");
        assert!(out.stdout.contains("Example"), "{args:?}: {}", out.stdout);
    }
}

#[tokio::test]
async fn ingest_off_a_terminal_prints_exactly_the_report_and_a_plain_summary() {
    let s = Setup::start("bitcoin,ethereum").await;
    let out = s.run(&["ingest"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    out.assert_no_control_characters();
    let report = out.json();
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(report["pairs"]["ok"], 4);
    assert!(out.stdout.lines().count() > 1, "pretty-printed by default");
    // No progress bars: a short plain summary only.
    assert!(out.stderr.starts_with("ingest succeeded"), "{}", out.stderr);
    assert!(out.stderr.lines().count() <= 3, "{}", out.stderr);
}

#[tokio::test]
async fn json_prints_one_line_and_quiet_prints_nothing_on_success() {
    let s = Setup::start("bitcoin").await;
    let out = s.run(&["ingest", "--json", "--quiet"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    assert_eq!(out.json()["pairs"]["ok"], 2);
    assert_eq!(out.stderr, "");

    let out = s.run(&["ingest", "--json"]).await;
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    assert!(out.stderr.contains("ingest succeeded"), "{}", out.stderr);
    out.assert_no_control_characters();
}

#[tokio::test]
async fn an_unknown_coin_is_reported_with_the_closest_known_ids() {
    let s = Setup::start("bitcoinn").await;
    let out = s.run(&["ingest", "--quiet"]).await;
    assert_eq!(out.code, Some(1), "every pair failed: {out:?}");
    assert!(
        out.stderr
            .contains("TRACKED_COINS names \"bitcoinn\", which CoinGecko's /coins/list does not know; closest ids: bitcoin"),
        "{}",
        out.stderr
    );
    assert_eq!(out.json()["failures"][0]["code"], "UNKNOWN_COIN");
    // `status` says so too, until a history run no longer reports it.
    let status = s.run(&["status"]).await;
    assert!(
        status.stdout.contains(
            "CoinGecko does not know these TRACKED_COINS ids (newest history run): bitcoinn"
        ),
        "{}",
        status.stdout
    );
    assert_eq!(
        s.run(&["status", "--json"]).await.json()["unknownCoins"],
        serde_json::json!(["bitcoinn"])
    );
}

#[test]
fn a_missing_database_url_is_named_with_an_example() {
    let out = run_blocking(&["status"], &[]);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.starts_with("error: DATABASE_URL is not set"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("postgres://"), "{}", out.stderr);
}

#[test]
fn a_malformed_rate_limit_is_named_with_an_example() {
    let out = run_blocking(
        &["ingest"],
        &[
            ("DATABASE_URL", "postgres://app@127.0.0.1:5432/crypto"),
            ("COINGECKO_RATE_LIMIT_PER_MIN", "fast"),
        ],
    );
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr
            .starts_with("error: COINGECKO_RATE_LIMIT_PER_MIN is invalid"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("example: 30"), "{}", out.stderr);
    assert_eq!(out.stdout, "");
}

#[test]
fn an_unreachable_database_says_where_it_was_looked_for_but_not_the_password() {
    let url = unreachable_database_url();
    let port = url.rsplit(':').next().unwrap().split('/').next().unwrap();
    for command in ["status", "ingest", "migrate"] {
        let out = run_blocking(&[command], &[("DATABASE_URL", &url)]);
        assert_eq!(out.code, Some(1), "{command}: {out:?}");
        assert_eq!(out.stdout, "", "{command}");
        let tried = format!("tried: 127.0.0.1:{port}/crypto (user app)");
        assert!(out.stderr.contains(&tried), "{command}: {}", out.stderr);
        assert!(out.stderr.contains("make dev"), "{command}: {}", out.stderr);
        assert!(
            out.stderr.contains("DATABASE_URL"),
            "{command}: {}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("supersecret"),
            "{command}: {}",
            out.stderr
        );
    }
}

/// bitcoin/usd: 48 hours from 2025-01-01 00:00 less 05:00, 10:00-12:00 and 06:00 the next
/// day (5 missing hours in 3 gaps, the largest 3 hours at 10:00), their 2 daily averages and
/// 3 snapshot days before them from 2024-12-29; bitcoin/eur: nothing;
/// ethereum/usd: the last 5 hours without a gap; ethereum/eur: one hour.
async fn database_with_known_gaps() -> TestDb {
    let db = TestDb::migrated().await;
    db.client()
        .await
        .batch_execute(
            "INSERT INTO currencies (code, name) VALUES ('usd', 'US Dollar'), ('eur', 'Euro');
             INSERT INTO coins (id, symbol, name) VALUES ('bitcoin', 'btc', 'Bitcoin'), ('ethereum', 'eth', 'Ethereum');
             INSERT INTO price_hourly (coin_id, currency_code, ts, price)
             SELECT 'bitcoin', 'usd', ts, 100
               FROM generate_series(timestamptz '2025-01-01 00:00Z', timestamptz '2025-01-02 23:00Z', interval '1 hour') ts
              WHERE ts NOT IN ('2025-01-01 05:00Z', '2025-01-01 10:00Z', '2025-01-01 11:00Z',
                               '2025-01-01 12:00Z', '2025-01-02 06:00Z');
             INSERT INTO price_hourly (coin_id, currency_code, ts, price)
             SELECT 'ethereum', 'usd', ts, 5
               FROM generate_series(date_trunc('hour', now(), 'UTC') - interval '4 hours', date_trunc('hour', now(), 'UTC'), interval '1 hour') ts;
             INSERT INTO price_hourly (coin_id, currency_code, ts, price)
             VALUES ('ethereum', 'eur', date_trunc('hour', now(), 'UTC'), 4);
             INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count)
             VALUES ('bitcoin', 'usd', '2025-01-01', 100, 20), ('bitcoin', 'usd', '2025-01-02', 100, 23);
             INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count, source)
             SELECT 'bitcoin', 'usd', d, 90, 1, 'snapshot'
               FROM generate_series(date '2024-12-29', date '2024-12-31', interval '1 day') d;
             INSERT INTO ingestion_runs (id, trigger, mode, status, started_at, finished_at, report, simulated)
             VALUES (gen_random_uuid(), 'cli', 'full', 'partial', now() - interval '1 minute', now(),
                     '{\"durationMs\": 1500, \"pairs\": {\"ok\": 3, \"failed\": 1, \"skipped\": 0},
                       \"rows\": {\"hourly\": 49, \"daily\": 2, \"metadata\": 0}}', true);",
        )
        .await
        .expect("fixture rows insert");
    db
}

/// The environment of `status` over [`database_with_known_gaps`].
fn status_env(db: &TestDb) -> [(&'static str, &str); 3] {
    [
        ("DATABASE_URL", db.url.as_str()),
        ("TRACKED_COINS", "bitcoin,ethereum"),
        ("TRACKED_CURRENCIES", "usd,eur"),
    ]
}

#[tokio::test]
async fn the_coverage_report_finds_the_known_gaps() {
    let db = database_with_known_gaps().await;
    let env = status_env(&db);
    let out = run(&["status", "--json"], &env).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let c = out.json();

    let pairs: Vec<(&str, &str)> = c["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["coin"].as_str().unwrap(), p["currency"].as_str().unwrap()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("bitcoin", "usd"),
            ("bitcoin", "eur"),
            ("ethereum", "usd"),
            ("ethereum", "eur")
        ]
    );
    let btc = &c["pairs"][0];
    assert_eq!(btc["firstHour"], "2025-01-01T00:00:00Z");
    assert_eq!(btc["lastHour"], "2025-01-02T23:00:00Z");
    assert_eq!(
        (btc["hours"].as_i64(), btc["days"].as_i64()),
        (Some(43), Some(5))
    );
    assert_eq!(btc["firstDay"], "2024-12-29");
    assert_eq!(
        (btc["hourlyDays"].as_i64(), btc["snapshotDays"].as_i64()),
        (Some(2), Some(3))
    );
    assert_eq!(
        (btc["missingHours"].as_i64(), btc["gaps"].as_i64()),
        (Some(5), Some(3))
    );
    assert_eq!(btc["largestGap"]["start"], "2025-01-01T10:00:00Z");
    assert_eq!(btc["largestGap"]["hours"], 3);
    assert!(btc["ageSeconds"].as_i64().unwrap() > 86_400);

    let none = &c["pairs"][1];
    assert_eq!(none["hours"], 0);
    assert!(none["firstDay"].is_null());
    assert_eq!(
        (none["days"].as_i64(), none["snapshotDays"].as_i64()),
        (Some(0), Some(0))
    );
    assert!(none["firstHour"].is_null() && none["ageSeconds"].is_null());
    let eth = &c["pairs"][2];
    assert_eq!(
        (
            eth["hours"].as_i64(),
            eth["missingHours"].as_i64(),
            eth["gaps"].as_i64()
        ),
        (Some(5), Some(0), Some(0))
    );
    assert!(eth["largestGap"].is_null());
    assert!(eth["ageSeconds"].as_i64().unwrap() < 3_600);

    let s = &c["summary"];
    assert_eq!(
        (
            s["pairs"].as_i64(),
            s["pairsWithData"].as_i64(),
            s["hours"].as_i64()
        ),
        (Some(4), Some(3), Some(49))
    );
    assert_eq!(
        (s["pairsWithGaps"].as_i64(), s["missingHours"].as_i64()),
        (Some(1), Some(5))
    );
    assert_eq!(
        (
            s["stalest"]["coin"].as_str(),
            s["stalest"]["currency"].as_str()
        ),
        (Some("bitcoin"), Some("usd"))
    );

    assert_eq!(c["historyRuns"].as_array().unwrap().len(), 1);
    assert_eq!(c["historyRuns"][0]["status"], "partial");
    assert_eq!(c["historyRuns"][0]["pairs"]["failed"], 1);
    assert_eq!(c["historyRuns"][0]["durationMs"], 1500);
    assert_eq!(c["liveRefreshes"], serde_json::json!([]));
    assert_eq!(c["freshness"]["lastIngestion"]["status"], "partial");
}

/// Every pair's hours, gaps and largest gap by a scan of every stored hour: what
/// `status` must report without making that scan.
const EVERY_HOUR: &str = "
    WITH steps AS (
        SELECT coin_id, currency_code, ts,
               ts - lag(ts) OVER (PARTITION BY coin_id, currency_code ORDER BY ts) AS step
          FROM price_hourly
    )
    SELECT coin_id, currency_code, count(*) AS hours,
           count(*) FILTER (WHERE step > interval '1 hour') AS gaps,
           (extract(epoch FROM max(ts) - min(ts))::bigint / 3600 + 1 - count(*)) AS missing,
           (array_agg(ts - step + interval '1 hour' ORDER BY step DESC, ts)
               FILTER (WHERE step > interval '1 hour'))[1] AS gap_start,
           max(extract(epoch FROM step)::bigint / 3600 - 1)
               FILTER (WHERE step > interval '1 hour') AS gap_hours
      FROM steps GROUP BY coin_id, currency_code";

#[tokio::test]
async fn the_coverage_counts_whole_days_by_their_daily_rows_and_agrees_with_every_hour() {
    // Three coins x two currencies over 20 days, the daily rows written as the ingester
    // writes them: whole days; hours missing at a rhythm of each coin's own; a gap across two
    // midnights (one day without any hour); one pair sparse (a quote every 11 hours); then
    // the first day and a half pruned as retention prunes (their daily rows stay).
    let db = TestDb::migrated().await;
    let client = db.client().await;
    client
        .batch_execute(
            "INSERT INTO currencies (code, name) VALUES ('usd', 'US Dollar'), ('eur', 'Euro');
             INSERT INTO coins (id, symbol, name)
                  VALUES ('alpha', 'a', 'Alpha'), ('beta', 'b', 'Beta'), ('gamma', 'g', 'Gamma');
             INSERT INTO price_hourly (coin_id, currency_code, ts, price)
             SELECT c.id, v.code, ts, 1
               FROM coins c CROSS JOIN currencies v
              CROSS JOIN generate_series(timestamptz '2025-03-01 05:00Z',
                                         timestamptz '2025-03-20 17:00Z', interval '1 hour') ts
              WHERE NOT (c.id <> 'alpha'
                         AND (extract(epoch FROM ts)::bigint / 3600) % (29 + ascii(c.id) % 7) = 0)
                AND NOT (c.id = 'beta' AND ts >= '2025-03-05 20:00Z' AND ts < '2025-03-07 03:00Z')
                AND NOT (c.id = 'gamma' AND v.code = 'eur'
                         AND (extract(epoch FROM ts)::bigint / 3600) % 11 <> 0);
             INSERT INTO price_daily (coin_id, currency_code, date, price, sample_count, source)
             SELECT coin_id, currency_code, (ts AT TIME ZONE 'UTC')::date, avg(price), count(*), 'hourly'
               FROM price_hourly GROUP BY 1, 2, 3;
             DELETE FROM price_hourly WHERE ts < '2025-03-02 09:00Z';",
        )
        .await
        .expect("fixture rows insert");
    let out = run(
        &["status", "--json"],
        &[
            ("DATABASE_URL", db.url.as_str()),
            ("TRACKED_COINS", "alpha,beta,gamma"),
            ("TRACKED_CURRENCIES", "usd,eur"),
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let report = out.json();
    let expected = client.query(EVERY_HOUR, &[]).await.unwrap();
    assert_eq!(expected.len(), 6);
    let mut with_gaps = 0;
    for row in expected {
        let (coin, currency): (String, String) = (row.get("coin_id"), row.get("currency_code"));
        let pair = report["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["coin"] == coin.as_str() && p["currency"] == currency.as_str())
            .unwrap_or_else(|| panic!("{coin}/{currency} reported"));
        let gap_start: Option<chrono::DateTime<chrono::Utc>> = row.get("gap_start");
        let gap_hours: Option<i64> = row.get("gap_hours");
        let largest = gap_start.zip(gap_hours).map(|(start, hours)| {
            serde_json::json!({"start": start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                               "hours": hours})
        });
        assert_eq!(
            (
                pair["hours"].as_i64(),
                pair["gaps"].as_i64(),
                pair["missingHours"].as_i64(),
                &pair["largestGap"],
            ),
            (
                Some(row.get::<_, i64>("hours")),
                Some(row.get::<_, i64>("gaps")),
                Some(row.get::<_, i64>("missing")),
                &largest.unwrap_or(Value::Null),
            ),
            "{coin}/{currency}"
        );
        with_gaps += usize::from(row.get::<_, i64>("gaps") > 0);
    }
    assert_eq!(with_gaps, 4, "every pair of beta and gamma has gaps");
}

#[tokio::test]
async fn status_reports_the_history_and_the_live_refreshes_apart() {
    let db = TestDb::migrated().await;
    // A history run that failed three days ago, and a live refresh every 10 minutes since.
    db.client()
        .await
        .batch_execute(
            "INSERT INTO ingestion_runs (id, trigger, mode, status, started_at, finished_at)
             VALUES (gen_random_uuid(), 'schedule', 'incremental', 'failed',
                     now() - interval '3 days 1 minute', now() - interval '3 days');
             INSERT INTO ingestion_runs (id, trigger, mode, status, started_at, finished_at)
             SELECT gen_random_uuid(), 'schedule', 'latest', 'succeeded',
                    now() - make_interval(mins => n * 10), now() - make_interval(mins => n * 10)
               FROM generate_series(1, 12) n;",
        )
        .await
        .unwrap();
    let env = status_env(&db);

    let out = run(&["status"], &env).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let text = &out.stdout;
    assert!(text.contains("health: DEGRADED"), "{text}");
    let line = |start: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(start))
            .unwrap_or_else(|| panic!("no {start:?} line in {text}"))
            .to_owned()
    };
    let history = line("history run ");
    assert!(
        history.contains("failed") && history.contains("STALE"),
        "{history}"
    );
    let live = line("live refresh ");
    assert!(
        live.contains("succeeded") && !live.contains("STALE"),
        "{live}"
    );
    // Both lists, each with its own runs: twelve live refreshes crowd nothing out.
    let history_list = text.split("last history runs").nth(1).expect(text);
    let history_list = history_list.split("last live refreshes").next().unwrap();
    assert!(
        history_list.contains("incremental  failed"),
        "{history_list}"
    );
    assert!(!history_list.contains("latest"), "{history_list}");

    let json = run(&["status", "--json"], &env).await.json();
    assert_eq!(json["freshness"]["status"], "degraded");
    assert_eq!(json["freshness"]["lastIngestion"]["stale"], true);
    assert_eq!(json["freshness"]["lastLiveRefresh"]["stale"], false);
    assert_eq!(json["historyRuns"].as_array().unwrap().len(), 1);
    assert_eq!(json["liveRefreshes"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn status_prints_the_coverage_as_a_table() {
    let db = database_with_known_gaps().await;
    let env = status_env(&db);
    let out = run(&["status"], &env).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    out.assert_no_control_characters();
    let text = &out.stdout;
    assert!(
        text.starts_with("3/4 pairs have data · 49 hours stored · 1 with gaps (5 hours missing)\n"),
        "{text}"
    );
    assert!(
        text.contains("stalest pair: bitcoin/usd, newest point 2025-01-02 23:00"),
        "{text}"
    );
    let row = text
        .lines()
        .find(|l| l.starts_with("bitcoin   usd"))
        .expect(text);
    assert!(
        text.lines()
            .any(|l| l.contains("history from") && l.contains("snapshots")),
        "{text}"
    );
    // hours, days, snapshot days, missing hours, gaps.
    let cells: Vec<&str> = row.split_whitespace().collect();
    let hours = cells.iter().position(|c| *c == "43").expect(row);
    assert_eq!(cells[hours..hours + 5], ["43", "5", "3", "5", "3"], "{row}");
    for cell in ["2024-12-29", "2025-01-02 23:00", "3h from 2025-01-01 10:00"] {
        assert!(row.contains(cell), "{cell:?} not in {row:?}");
    }
    assert!(text.contains("partial"), "{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 120), "{text}");
}
