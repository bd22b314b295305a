-- crypto-dashboard schema: the original system's tables in snake_case, plus ingestion_runs.
-- Every price row is tied to a tracked coin and currency, is positive, and is unique per
-- (coin, currency, hour) or (coin, currency, day), so a rerun can only update, never duplicate.

CREATE TABLE currencies (
    code        text        PRIMARY KEY CHECK (code ~ '^[a-z]{2,10}$'),
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE coins (
    id          text        PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,99}$'),
    symbol      text        NOT NULL,
    name        text        NOT NULL,
    -- Position in the configured tracked list; the API lists coins in this order.
    sort_order  integer     NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE coin_metadata (
    coin_id     text        PRIMARY KEY REFERENCES coins (id) ON DELETE CASCADE,
    -- Raw CoinGecko description (may hold HTML); the API serves it as plain text.
    description text        NOT NULL DEFAULT '',
    image_url   text,
    website_url text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE price_hourly (
    coin_id       text             NOT NULL REFERENCES coins (id) ON DELETE CASCADE,
    currency_code text             NOT NULL REFERENCES currencies (code) ON DELETE CASCADE,
    -- Start of the UTC hour; the price is the average of the samples inside it.
    ts            timestamptz      NOT NULL CHECK (date_trunc('hour', ts) = ts),
    price         double precision NOT NULL CHECK (price > 0 AND price < 'Infinity'),
    created_at    timestamptz      NOT NULL DEFAULT now(),
    updated_at    timestamptz      NOT NULL DEFAULT now(),
    -- The primary key is the unique key and the index for "coin + currency + time range".
    CONSTRAINT price_hourly_pkey PRIMARY KEY (coin_id, currency_code, ts)
);

CREATE TABLE price_daily (
    coin_id       text             NOT NULL REFERENCES coins (id) ON DELETE CASCADE,
    currency_code text             NOT NULL REFERENCES currencies (code) ON DELETE CASCADE,
    -- UTC calendar day.
    date          date             NOT NULL,
    price         double precision NOT NULL CHECK (price > 0 AND price < 'Infinity'),
    -- How many stored hourly rows the average was taken over (1..24).
    sample_count  integer          NOT NULL CHECK (sample_count BETWEEN 1 AND 24),
    created_at    timestamptz      NOT NULL DEFAULT now(),
    updated_at    timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT price_daily_pkey PRIMARY KEY (coin_id, currency_code, date)
);

-- Foreign keys to currencies are not covered by the primary keys' leading column.
CREATE INDEX price_hourly_currency_idx ON price_hourly (currency_code);
CREATE INDEX price_daily_currency_idx ON price_daily (currency_code);

CREATE TABLE ingestion_runs (
    id          uuid        PRIMARY KEY,
    trigger     text        NOT NULL CHECK (trigger IN ('schedule', 'manual', 'http', 'cli')),
    mode        text        NOT NULL CHECK (mode IN ('full', 'incremental')),
    status      text        NOT NULL CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'skipped')),
    started_at  timestamptz NOT NULL,
    finished_at timestamptz CHECK (finished_at IS NULL OR finished_at >= started_at),
    report      jsonb,
    -- Whether the prices came from the built-in CoinGecko simulator (the dashboard says so).
    simulated   boolean     NOT NULL DEFAULT false
);

CREATE INDEX ingestion_runs_started_at_idx ON ingestion_runs (started_at DESC);
