-- Runs that tell the truth (issue 23).
--
-- `attempt`: how many times the run was started. The cron route's claim inserts an accepted
-- run with attempt 0 (accepted, not started); every start adds one, so a Lambda retry of an
-- accepted run (same runId) is attempt 2 and keeps the first attempt in its report. A run
-- that takes the lock closes a `running` row as interrupted only when it was started
-- (attempt > 0: no live session holds the lock for it) or is an accepted run older than its
-- start window; an accepted run still within its window makes the newcomer skip.
ALTER TABLE ingestion_runs ADD COLUMN attempt integer NOT NULL DEFAULT 1 CHECK (attempt >= 0);

-- Health and the runs route read history runs and live refreshes apart, newest first; live
-- refreshes (one every 10 minutes) outnumber history runs about 150 to 1.
CREATE INDEX ingestion_runs_kind_idx ON ingestion_runs ((mode = 'latest'), started_at DESC);
