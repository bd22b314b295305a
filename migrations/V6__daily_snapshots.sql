-- A year of history: days before the hourly window come from CoinGecko's 00:00 UTC daily
-- price (a "snapshot"), days with stored hours from their average ("hourly", as before).
-- Hourly averages always win: the ingester overwrites a snapshot with an average, never the
-- other way round.

ALTER TABLE price_daily
    ADD COLUMN source text NOT NULL DEFAULT 'hourly' CHECK (source IN ('hourly', 'snapshot')),
    -- A snapshot is one price, not an average.
    ADD CONSTRAINT price_daily_snapshot_is_one_sample CHECK (source = 'hourly' OR sample_count = 1);

-- Each pair's last backfill: how many days it asked for and when. A pair is backfilled again
-- only when it has fewer daily rows than the configured depth and no backfill reached that
-- depth yet, so a coin younger than a year costs one call, not one a day.
CREATE TABLE price_backfill (
    coin_id       text        NOT NULL REFERENCES coins (id) ON DELETE CASCADE,
    currency_code text        NOT NULL REFERENCES currencies (code) ON DELETE CASCADE,
    days          integer     NOT NULL CHECK (days > 0),
    fetched_at    timestamptz NOT NULL,
    CONSTRAINT price_backfill_pkey PRIMARY KEY (coin_id, currency_code)
);

CREATE INDEX price_backfill_currency_idx ON price_backfill (currency_code);
