//! The live display of `crypto-dashboard ingest` on a terminal, fed by the ingester's
//! [`IngestEvent`]s:
//!
//! ```text
//! ⠙ [00:00:31] ██████████░░░░░░░░░░░░░░░░░░░░ 14/44 pairs  ethereum/gbp
//!   15 calls · 30,240 hourly + 1,274 daily rows · 1 failed · next call in 1.6s (rate limit 30/min)
//! ```
//!
//! Failures are printed above the bars as they happen.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ingest::{IngestEvent, ProgressSink};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::table::{count, thousands};

/// How often the bars redraw, so the seconds left of a wait count down.
const TICK: Duration = Duration::from_millis(100);

/// The bars, drawn on stderr from [`LiveProgress::start`] to [`LiveProgress::finish`].
#[derive(Clone)]
pub struct LiveProgress {
    bars: MultiProgress,
    pairs: ProgressBar,
    activity: ProgressBar,
    state: Arc<Mutex<Activity>>,
}

impl LiveProgress {
    /// Draws the bars of `bars` on stderr; `per_min` is the run's request budget.
    pub fn start(bars: MultiProgress, per_min: u32) -> LiveProgress {
        bars.set_draw_target(ProgressDrawTarget::stderr());
        let state = Arc::new(Mutex::new(Activity::new(per_min)));
        let pairs = bars.add(
            ProgressBar::no_length()
                .with_style(style("{spinner:.green} [{elapsed_precise}] {wide_msg}")),
        );
        let line = state.clone();
        let activity = bars.add(ProgressBar::no_length().with_style(
            style("  {activity}").with_key(
                "activity",
                move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = w.write_str(&lock(&line).line(Instant::now()));
                },
            ),
        ));
        pairs.set_message("connecting");
        pairs.enable_steady_tick(TICK);
        activity.enable_steady_tick(TICK);
        LiveProgress {
            bars,
            pairs,
            activity,
            state,
        }
    }

    /// The observer to hand to the ingester.
    pub fn sink(&self) -> ProgressSink {
        let this = self.clone();
        Arc::new(move |event| this.on(event))
    }

    /// Removes the bars (the summary follows on stderr).
    pub fn finish(&self) {
        self.pairs.finish_and_clear();
        self.activity.finish_and_clear();
        let _ = self.bars.clear();
    }

    fn on(&self, event: IngestEvent) {
        let now = Instant::now();
        match event {
            IngestEvent::Started { .. } => self.pairs.set_message("reference data"),
            IngestEvent::Step(step) => {
                self.update(|a| a.call(now));
                self.pairs.set_message(step);
            }
            IngestEvent::Planned { pairs } => {
                self.pairs.set_style(style(
                    "{spinner:.green} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} pairs  {wide_msg}",
                ));
                self.pairs.set_length(pairs as u64);
                self.pairs.set_message("");
            }
            IngestEvent::PairStarted { coin, currency, .. } => {
                self.update(|a| a.call(now));
                self.pairs.set_message(format!("{coin}/{currency}"));
            }
            IngestEvent::Waiting { wait, reason, .. } => {
                self.update(|a| a.retry(now, wait, reason))
            }
            IngestEvent::PairFinished { result, error, .. } => {
                let failed = result.status == common::ingest::PairStatus::Failed;
                self.update(|a| {
                    a.hourly += result.hourly_rows;
                    a.daily += result.daily_rows;
                    a.failed += u32::from(failed);
                });
                self.pairs.inc(1);
                if let Some(error) = error {
                    let mark = if failed { "✗" } else { "-" };
                    let _ = self.bars.println(format!(
                        "{mark} {}/{} {}: {error}",
                        result.coin,
                        result.currency,
                        result.status.as_str()
                    ));
                }
            }
        }
    }

    /// Changes the activity; the lock is never held while the bars draw (their ticker
    /// thread takes it to render the activity line).
    fn update(&self, change: impl FnOnce(&mut Activity)) {
        change(&mut lock(&self.state));
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("the templates are valid")
        .progress_chars("█▉▊▋▌▍▎▏ ")
}

fn lock(state: &Mutex<Activity>) -> std::sync::MutexGuard<'_, Activity> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the run is doing between events: calls made, rows written, failures, and the wait
/// in progress. Calls are modelled as the client's token bucket paces them (one per
/// `60 s / per_min`, no burst), so the display can say how long the next one waits.
#[derive(Debug)]
struct Activity {
    per_min: u32,
    period: Duration,
    /// Calls announced so far (the newest may still be waiting for its slot).
    calls: u64,
    /// When the newest call may go out.
    slot: Option<Instant>,
    /// A retry's end and its cause.
    retry: Option<(Instant, String)>,
    hourly: u64,
    daily: u64,
    failed: u32,
}

impl Activity {
    fn new(per_min: u32) -> Activity {
        Activity {
            per_min,
            period: Duration::from_secs(60) / per_min.max(1),
            calls: 0,
            slot: None,
            retry: None,
            hourly: 0,
            daily: 0,
            failed: 0,
        }
    }

    /// A call is about to be made, not before `not_before`.
    fn call(&mut self, not_before: Instant) {
        let slot = match self.slot {
            Some(previous) => (previous + self.period).max(not_before),
            None => not_before,
        };
        self.slot = Some(slot);
        self.calls += 1;
    }

    /// The client waits `wait` before trying again.
    fn retry(&mut self, now: Instant, wait: Duration, reason: String) {
        self.retry = Some((now + wait, reason));
        self.call(now + wait);
    }

    /// The second line of the display at `now`.
    fn line(&self, now: Instant) -> String {
        let waiting = self.slot.is_some_and(|slot| slot > now);
        let mut line = format!(
            "{} · {} hourly + {} daily rows",
            count(self.calls - u64::from(waiting), "call"),
            thousands(self.hourly),
            thousands(self.daily)
        );
        if self.failed > 0 {
            let _ = write!(line, " · {} failed", self.failed);
        }
        match (&self.retry, self.slot) {
            (Some((until, reason)), _) if *until > now => {
                let _ = write!(line, " · {reason}: retrying in {}", seconds(*until - now));
            }
            (_, Some(slot)) if slot > now => {
                let _ = write!(
                    line,
                    " · next call in {} (rate limit {}/min)",
                    seconds(slot - now),
                    self.per_min
                );
            }
            _ => {}
        }
        line
    }
}

/// Time left, rounded up: `0.1s`, `1.7s` under ten seconds, `12s` above.
fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{:.1}s", (d.as_secs_f64() * 10.0).ceil() / 10.0)
    } else {
        format!("{}s", d.as_secs_f64().ceil())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_paced_by_the_budget_and_the_wait_counts_down() {
        let t0 = Instant::now();
        let mut a = Activity::new(30);
        a.call(t0);
        assert_eq!(a.line(t0), "1 call · 0 hourly + 0 daily rows");
        // The second call waits one period (2 s at 30/min) after the first.
        a.call(t0 + Duration::from_millis(500));
        assert_eq!(
            a.line(t0 + Duration::from_millis(500)),
            "1 call · 0 hourly + 0 daily rows · next call in 1.5s (rate limit 30/min)"
        );
        assert_eq!(
            a.line(t0 + Duration::from_secs(2)),
            "2 calls · 0 hourly + 0 daily rows"
        );
        // After a long pause the next call goes at once.
        a.call(t0 + Duration::from_secs(60));
        assert_eq!(a.slot, Some(t0 + Duration::from_secs(60)));
    }

    #[test]
    fn retries_show_their_cause_and_seconds_left() {
        let t0 = Instant::now();
        let mut a = Activity::new(30);
        a.call(t0);
        a.retry(
            t0,
            Duration::from_secs(12),
            "rate limited by CoinGecko (HTTP 429, Retry-After 12s)".into(),
        );
        a.hourly = 12_345;
        a.failed = 1;
        assert_eq!(
            a.line(t0 + Duration::from_millis(500)),
            "1 call · 12,345 hourly + 0 daily rows · 1 failed · \
             rate limited by CoinGecko (HTTP 429, Retry-After 12s): retrying in 12s"
        );
        assert_eq!(
            a.line(t0 + Duration::from_secs(12)),
            "2 calls · 12,345 hourly + 0 daily rows · 1 failed"
        );
    }

    #[test]
    fn seconds_are_short() {
        assert_eq!(seconds(Duration::from_millis(1_640)), "1.7s");
        assert_eq!(seconds(Duration::from_millis(3)), "0.1s");
        assert_eq!(seconds(Duration::from_millis(11_200)), "12s");
    }
}
