-- Every time rule in UTC, whatever the server's TimeZone.
--
-- V1 checked `date_trunc('hour', ts) = ts`, which truncates in the session's TimeZone: with a
-- half-hour zone (Asia/Kolkata, +05:30; or an RDS parameter group setting one) the start of a
-- UTC hour is not the start of a local hour, and every write failed the check. `AT TIME ZONE
-- 'UTC'` turns the instant into UTC wall-clock time first, so the rule no longer depends on
-- the zone (and both functions are immutable, as a CHECK expression should be).

ALTER TABLE price_hourly DROP CONSTRAINT price_hourly_ts_check;
ALTER TABLE price_hourly ADD CONSTRAINT price_hourly_ts_utc_hour
    CHECK (date_trunc('hour', ts AT TIME ZONE 'UTC') = ts AT TIME ZONE 'UTC');
