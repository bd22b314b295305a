//! The monthly CoinGecko call budget (`COINGECKO_MONTHLY_CALLS`), counted from the recorded
//! runs: each run's `ingestion_runs.calls` is what it reserved and has not given back. A run
//! reserves calls before it makes them, under a transaction-scoped advisory lock, so two runs
//! at the cap never both get the last calls; it gives back what it did not use when it ends.
//! A run that dies keeps its reservation counted, so the cap holds whatever happens.

use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::Error;
use uuid::Uuid;

use crate::coingecko::CallAllowance;

/// Serialises reservations (and nothing else: runs never wait on each other for long).
pub const BUDGET_LOCK_KEY: i64 = 0x6372_7970_746f_6263;

/// The month's budget and its spend, as reports, health and `status` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BudgetStatus {
    /// `COINGECKO_MONTHLY_CALLS`.
    pub monthly: u64,
    /// Calls recorded (or reserved by runs still going) since the start of the UTC month.
    pub spent: u64,
    /// `monthly - spent` (never below 0).
    pub remaining: u64,
}

/// The first instant of `now`'s calendar month in UTC.
pub fn month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(now.year(), now.month(), 1)
        .expect("the first of a month exists")
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
}

/// The calls recorded by runs started in `now`'s UTC month.
pub async fn month_status(
    client: &impl deadpool_postgres::GenericClient,
    monthly: u64,
    now: DateTime<Utc>,
) -> Result<BudgetStatus, Error> {
    let spent = spent_since(client, month_start(now)).await?;
    Ok(BudgetStatus {
        monthly,
        spent,
        remaining: monthly.saturating_sub(spent),
    })
}

async fn spent_since(
    client: &impl deadpool_postgres::GenericClient,
    since: DateTime<Utc>,
) -> Result<u64, Error> {
    let spent: i64 = client
        .query_one(
            "SELECT coalesce(sum(calls), 0)::int8 AS spent FROM ingestion_runs WHERE started_at >= $1",
            &[&since],
        )
        .await?
        .try_get("spent")?;
    Ok(spent.max(0) as u64)
}

/// One run's side of the budget: what it reserved, and the allowance its CoinGecko client
/// draws on.
#[derive(Debug)]
pub struct CallBudget {
    run_id: Uuid,
    monthly: u64,
    month: DateTime<Utc>,
    allowance: Arc<CallAllowance>,
    reserved: u64,
}

impl CallBudget {
    /// The budget of run `run_id` (recorded as started) in the month of `now`.
    pub fn new(run_id: Uuid, monthly: u32, now: DateTime<Utc>) -> Self {
        CallBudget {
            run_id,
            monthly: monthly.into(),
            month: month_start(now),
            allowance: Arc::new(CallAllowance::default()),
            reserved: 0,
        }
    }

    /// The allowance to give the run's CoinGecko client.
    pub fn allowance(&self) -> Arc<CallAllowance> {
        self.allowance.clone()
    }

    /// Calls the client may still make before the next reservation.
    pub fn left(&self) -> u64 {
        self.allowance.left()
    }

    /// Tops the allowance up to `want` calls, leaving `keep` calls of the month for work that
    /// comes first (the rest of the month's live quotes, say); returns the calls the client
    /// may now make, which is less than `want` when the month has no more to give.
    pub async fn reserve(
        &mut self,
        client: &mut deadpool_postgres::Object,
        want: u64,
        keep: u64,
    ) -> Result<u64, Error> {
        let needed = want.saturating_sub(self.allowance.left());
        if needed == 0 {
            return Ok(self.allowance.left());
        }
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&BUDGET_LOCK_KEY])
            .await?;
        let spent = spent_since(&tx, self.month).await?;
        let grant = needed.min(self.monthly.saturating_sub(spent).saturating_sub(keep));
        if grant > 0 {
            tx.execute(
                "UPDATE ingestion_runs SET calls = calls + $2 WHERE id = $1",
                &[&self.run_id, &(grant as i32)],
            )
            .await?;
        }
        tx.commit().await?;
        self.reserved += grant;
        self.allowance.grant(grant);
        Ok(self.allowance.left())
    }

    /// Gives back the calls reserved and not made, and returns the month's status after it.
    pub async fn settle(
        &mut self,
        client: &deadpool_postgres::Object,
    ) -> Result<BudgetStatus, Error> {
        let unused = self.allowance.left().min(self.reserved);
        if unused > 0 {
            client
                .execute(
                    "UPDATE ingestion_runs SET calls = greatest(calls - $2, 0) WHERE id = $1",
                    &[&self.run_id, &(unused as i32)],
                )
                .await?;
            self.reserved -= unused;
        }
        let spent = spent_since(client, self.month).await?;
        Ok(BudgetStatus {
            monthly: self.monthly,
            spent,
            remaining: self.monthly.saturating_sub(spent),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_month_starts_at_utc_midnight_on_the_first() {
        let now = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap();
        assert_eq!(
            month_start(now),
            Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
        );
        let first = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(month_start(first), first);
    }
}
