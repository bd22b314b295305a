-- Any number of coins (issue 25): the top N by market cap plus pinned ids, within a monthly
-- call budget.

-- `rank`: CoinGecko's market-cap rank when last resolved (null: unranked or never resolved);
-- `ranked_at`: when that was. `tracked`: whether the last run that resolved the tracked set
-- followed the coin (a coin that leaves it keeps its rows and is served `tracked: false`).
-- Coins stored before this migration were all tracked by the configured list.
ALTER TABLE coins ADD COLUMN rank integer CHECK (rank > 0);
ALTER TABLE coins ADD COLUMN ranked_at timestamptz;
ALTER TABLE coins ADD COLUMN tracked boolean NOT NULL DEFAULT false;
UPDATE coins SET tracked = true;
CREATE INDEX coins_tracked_rank_idx ON coins (rank, sort_order) WHERE tracked;

-- Where an hour comes from: `range` (CoinGecko's own hourly point, from a range call) or
-- `quote` (the mean of that hour's `quotes` distinct live quotes). A range point replaces a
-- quote-built hour; a quote never replaces a range point.
ALTER TABLE price_hourly ADD COLUMN source text NOT NULL DEFAULT 'range'
    CHECK (source IN ('range', 'quote'));
ALTER TABLE price_hourly ADD COLUMN quotes integer
    CHECK ((source = 'range' AND quotes IS NULL) OR (source = 'quote' AND quotes >= 1));

-- What `/coins/markets` adds to a live quote: the 1 h and 7 d changes (percent) and the 7-day
-- sparkline (JSON array, oldest first, 5 significant digits), as of `markets_at`.
ALTER TABLE price_latest ADD COLUMN change_1h double precision
    CHECK (change_1h > '-Infinity' AND change_1h < 'Infinity');
ALTER TABLE price_latest ADD COLUMN change_7d double precision
    CHECK (change_7d > '-Infinity' AND change_7d < 'Infinity');
ALTER TABLE price_latest ADD COLUMN sparkline json;
ALTER TABLE price_latest ADD COLUMN markets_at timestamptz;

-- Live refreshes are recorded as `running` while they run too (their reservation of calls must
-- be on record): at most one running run of each kind.
DROP INDEX ingestion_runs_one_running_idx;
CREATE UNIQUE INDEX ingestion_runs_one_running_idx ON ingestion_runs ((mode = 'latest'))
    WHERE status = 'running';

-- The monthly call budget, counted from the recorded runs: `calls` is what a run has reserved
-- and not given back (while it runs) and then what it spent (when it finished). A run reserves
-- under a transaction-scoped advisory lock, so concurrent runs never pass the cap together; a
-- run that dies keeps its reservation counted.
ALTER TABLE ingestion_runs ADD COLUMN calls integer NOT NULL DEFAULT 0 CHECK (calls >= 0);
UPDATE ingestion_runs SET calls = greatest(coalesce((report ->> 'apiCalls')::integer, 0), 0);
-- The month's sum reads ingestion_runs_started_at_idx (V1).
