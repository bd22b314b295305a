-- The market overview prepared when prices are written: per coin and currency, the newest
-- stored hour, the prices 24 hours and 7 days before it, and the 7-day hourly sparkline. The
-- ingester refreshes a pair's row in the transaction that writes its hours, so the market
-- route reads one row per coin instead of aggregating price_hourly on every request.
-- Intervals in hours, never days (a day is 23 or 25 hours across DST in some zones).

CREATE TABLE market_summary (
    coin_id          text               NOT NULL REFERENCES coins (id) ON DELETE CASCADE,
    currency_code    text               NOT NULL REFERENCES currencies (code) ON DELETE CASCADE,
    price            double precision   NOT NULL CHECK (price > 0 AND price < 'Infinity'),
    -- The newest stored hour (the start of it).
    ts               timestamptz        NOT NULL,
    -- The last stored price at least 24 hours / 168 hours before `ts`, if any.
    price_24h_before double precision,
    price_7d_before  double precision,
    -- The hourly prices of the 168 hours up to `ts`, oldest first.
    sparkline        double precision[] NOT NULL,
    refreshed_at     timestamptz        NOT NULL DEFAULT now(),
    CONSTRAINT market_summary_pkey PRIMARY KEY (coin_id, currency_code)
);

CREATE INDEX market_summary_currency_idx ON market_summary (currency_code);

-- Recomputes one pair's summary from its stored hours (none: the row goes).
CREATE FUNCTION refresh_market_summary(p_coin text, p_currency text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM market_summary WHERE coin_id = p_coin AND currency_code = p_currency;
    INSERT INTO market_summary (coin_id, currency_code, price, ts, price_24h_before,
                                price_7d_before, sparkline)
    SELECT p_coin, p_currency, l.price, l.ts,
           (SELECT price FROM price_hourly
             WHERE coin_id = p_coin AND currency_code = p_currency
               AND ts <= l.ts - interval '24 hours'
             ORDER BY ts DESC LIMIT 1),
           (SELECT price FROM price_hourly
             WHERE coin_id = p_coin AND currency_code = p_currency
               AND ts <= l.ts - interval '168 hours'
             ORDER BY ts DESC LIMIT 1),
           ARRAY(SELECT price FROM price_hourly
                  WHERE coin_id = p_coin AND currency_code = p_currency
                    AND ts > l.ts - interval '168 hours'
                  ORDER BY ts)
      FROM (SELECT price, ts FROM price_hourly
             WHERE coin_id = p_coin AND currency_code = p_currency
             ORDER BY ts DESC LIMIT 1) l;
END $$;

-- Every pair with stored hours (after this migration, and for tests that insert hours directly).
CREATE FUNCTION refresh_market_summaries() RETURNS void
LANGUAGE sql AS $$
    SELECT refresh_market_summary(c.id, v.code)
      FROM coins c CROSS JOIN currencies v;
$$;

SELECT refresh_market_summaries();
