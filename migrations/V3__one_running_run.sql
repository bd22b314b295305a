-- At most one run is `running` at a time. The cron route records an accepted run as running
-- before the ingest function starts, so two triggers a second apart cannot both be accepted:
-- the second insert conflicts on this index and answers 409.

-- Older versions could leave several rows running after crashes; keep only the newest.
UPDATE ingestion_runs r SET status = 'failed', finished_at = greatest(r.started_at, now()),
       report = coalesce(r.report, '{}'::jsonb) || '{"interrupted": true}'::jsonb
 WHERE r.status = 'running'
   AND EXISTS (SELECT 1 FROM ingestion_runs n
                WHERE n.status = 'running' AND (n.started_at, n.id) > (r.started_at, r.id));

CREATE UNIQUE INDEX ingestion_runs_one_running_idx ON ingestion_runs ((true)) WHERE status = 'running';
