-- Live quotes (ingest mode `latest`): the newest CoinGecko quote of each tracked coin in each
-- tracked currency, one row per pair, replaced by every refresh. Any number may be missing
-- (CoinGecko sends nulls); the price, when present, is positive and finite.

CREATE TABLE price_latest (
    coin_id         text             NOT NULL REFERENCES coins (id) ON DELETE CASCADE,
    currency_code   text             NOT NULL REFERENCES currencies (code) ON DELETE CASCADE,
    price           double precision CHECK (price > 0 AND price < 'Infinity'),
    market_cap      double precision CHECK (market_cap >= 0 AND market_cap < 'Infinity'),
    volume_24h      double precision CHECK (volume_24h >= 0 AND volume_24h < 'Infinity'),
    -- Percent; may be negative.
    change_24h      double precision CHECK (change_24h > '-Infinity' AND change_24h < 'Infinity'),
    -- When CoinGecko last updated the coin's quote (its `last_updated_at`).
    last_updated_at timestamptz,
    -- When we fetched it.
    fetched_at      timestamptz      NOT NULL,
    CONSTRAINT price_latest_pkey PRIMARY KEY (coin_id, currency_code)
);

CREATE INDEX price_latest_currency_idx ON price_latest (currency_code);

-- A refresh of live quotes is recorded like a history run, with its own mode.
ALTER TABLE ingestion_runs DROP CONSTRAINT ingestion_runs_mode_check;
ALTER TABLE ingestion_runs ADD CONSTRAINT ingestion_runs_mode_check
    CHECK (mode IN ('full', 'incremental', 'latest'));
