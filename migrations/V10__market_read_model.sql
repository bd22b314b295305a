-- The market overview as the route serves it (issue 25): one prepared, sort-ready row per coin
-- and currency, so `/api/market` pages and sorts any number of tracked coins through an index
-- and never aggregates prices per request. A row holds what the route shows: the newer of the
-- live quote and the newest stored hour (the hour wins a tie), its time, the 1 h / 24 h / 7 d
-- changes, market cap, 24 h volume and the 7-day sparkline. `stale` depends on the clock, so
-- the route computes it from `price_at`.
--
-- A pair has a row when it has stored hours, a live quote (`price_latest`), or its coin is
-- tracked (a tracked coin is listed before its first price, with nulls). Writers refresh the
-- pairs they wrote with `refresh_market_summaries(coins, currencies)` in the same transaction:
-- the history run per pair (through `refresh_market_summary`), the live refresh for the
-- tracked coins x tracked currencies after it upserts `price_latest`, and whatever changes the
-- tracked set for the coins whose `tracked` changed. Intervals in hours, never days.

DROP FUNCTION refresh_market_summaries();
DROP FUNCTION refresh_market_summary(text, text);
DROP TABLE market_summary;

CREATE TABLE market_summary (
    coin_id       text             NOT NULL REFERENCES coins (id) ON DELETE CASCADE,
    currency_code text             NOT NULL REFERENCES currencies (code) ON DELETE CASCADE,
    -- The shown price and its time: the live quote (at coalesce(last_updated_at, fetched_at))
    -- or the newest stored hour (its start), whichever is newer; null before the first price.
    price         double precision CHECK (price > 0 AND price < 'Infinity'),
    price_at      timestamptz,
    -- Percent, 4 decimals (see market_change): 1 h and 7 d against the stored hours, else
    -- CoinGecko's /coins/markets values; 24 h the quote's own when the quote is the shown price.
    change_1h     double precision CHECK (change_1h > '-Infinity' AND change_1h < 'Infinity'),
    change_24h    double precision CHECK (change_24h > '-Infinity' AND change_24h < 'Infinity'),
    change_7d     double precision CHECK (change_7d > '-Infinity' AND change_7d < 'Infinity'),
    -- From the live quote.
    market_cap    double precision CHECK (market_cap >= 0 AND market_cap < 'Infinity'),
    volume_24h    double precision CHECK (volume_24h >= 0 AND volume_24h < 'Infinity'),
    -- JSON array, oldest first, 5 significant digits in single precision (V7's rule): the
    -- stored hours of the 168 hours up to the newest when there are at least 24 of them, else
    -- the sparkline of /coins/markets, else empty. Sent by the route as it is.
    sparkline     json             NOT NULL DEFAULT '[]',
    refreshed_at  timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT market_summary_pkey PRIMARY KEY (coin_id, currency_code),
    CONSTRAINT market_summary_price_has_a_time CHECK ((price IS NULL) = (price_at IS NULL))
);

-- One index per sort key and order, each with nulls last and the coin id as the tie-breaker,
-- so a page is the first LIMIT + OFFSET entries of one index scan in the requested currency.
CREATE INDEX market_summary_price_asc_idx ON market_summary (currency_code, price ASC NULLS LAST, coin_id);
CREATE INDEX market_summary_price_desc_idx ON market_summary (currency_code, price DESC NULLS LAST, coin_id);
CREATE INDEX market_summary_change_1h_asc_idx ON market_summary (currency_code, change_1h ASC NULLS LAST, coin_id);
CREATE INDEX market_summary_change_1h_desc_idx ON market_summary (currency_code, change_1h DESC NULLS LAST, coin_id);
CREATE INDEX market_summary_change_24h_asc_idx ON market_summary (currency_code, change_24h ASC NULLS LAST, coin_id);
CREATE INDEX market_summary_change_24h_desc_idx ON market_summary (currency_code, change_24h DESC NULLS LAST, coin_id);
CREATE INDEX market_summary_change_7d_asc_idx ON market_summary (currency_code, change_7d ASC NULLS LAST, coin_id);
CREATE INDEX market_summary_change_7d_desc_idx ON market_summary (currency_code, change_7d DESC NULLS LAST, coin_id);
CREATE INDEX market_summary_market_cap_asc_idx ON market_summary (currency_code, market_cap ASC NULLS LAST, coin_id);
CREATE INDEX market_summary_market_cap_desc_idx ON market_summary (currency_code, market_cap DESC NULLS LAST, coin_id);
CREATE INDEX market_summary_volume_24h_asc_idx ON market_summary (currency_code, volume_24h ASC NULLS LAST, coin_id);
CREATE INDEX market_summary_volume_24h_desc_idx ON market_summary (currency_code, volume_24h DESC NULLS LAST, coin_id);

-- The sorts by rank (unranked last, then the configured order) and by name read the tracked
-- coins in order and join their summary row. V9's rank index gains the id (a total order for
-- paging).
DROP INDEX coins_tracked_rank_idx;
CREATE INDEX coins_tracked_rank_idx ON coins (rank ASC NULLS LAST, sort_order, id) WHERE tracked;
CREATE INDEX coins_tracked_rank_desc_idx ON coins (rank DESC NULLS LAST, sort_order, id) WHERE tracked;
CREATE INDEX coins_tracked_name_idx ON coins (lower(name), id) WHERE tracked;

-- The percent change from p_then to p_now, rounded to 4 decimals; null without a positive
-- p_then. In numeric, so no pair of finite prices can overflow (clamped to a finite value).
CREATE FUNCTION market_change(p_now double precision, p_then double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_then > 0 THEN
        round(least(greatest((p_now::numeric - p_then::numeric) / p_then::numeric * 100,
                             -1e300), 1e300), 4)::double precision
    END
$$;

-- Recomputes the rows of every pair of p_coins x p_currencies (stored coins and currencies
-- only) in two set-based statements: pairs without hours, quote or tracked coin lose their row.
CREATE FUNCTION refresh_market_summaries(p_coins text[], p_currencies text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM market_summary s
     USING coins c
     WHERE s.coin_id = c.id AND s.coin_id = ANY (p_coins) AND s.currency_code = ANY (p_currencies)
       AND NOT c.tracked
       AND NOT EXISTS (SELECT 1 FROM price_latest q
                        WHERE q.coin_id = s.coin_id AND q.currency_code = s.currency_code)
       AND NOT EXISTS (SELECT 1 FROM price_hourly h
                        WHERE h.coin_id = s.coin_id AND h.currency_code = s.currency_code);

    INSERT INTO market_summary AS s (coin_id, currency_code, price, price_at, change_1h,
                                     change_24h, change_7d, market_cap, volume_24h, sparkline)
    SELECT p.coin_id, p.currency_code,
           CASE WHEN quote_shown THEN q.price ELSE h.price END,
           CASE WHEN quote_shown THEN q.at ELSE h.ts END,
           coalesce(market_change(h.price, h1.price), round(q.change_1h::numeric, 4)::double precision),
           CASE WHEN quote_shown AND q.change_24h IS NOT NULL
                THEN round(q.change_24h::numeric, 4)::double precision
                ELSE market_change(h.price, h24.price) END,
           coalesce(market_change(h.price, h168.price), round(q.change_7d::numeric, 4)::double precision),
           q.market_cap, q.volume_24h,
           CASE WHEN week.hours >= 24 THEN week.sparkline
                ELSE coalesce(q.sparkline, '[]'::json) END
      FROM (SELECT c.id AS coin_id, v.code AS currency_code, c.tracked
              FROM coins c JOIN currencies v ON v.code = ANY (p_currencies)
             WHERE c.id = ANY (p_coins)) p
      LEFT JOIN LATERAL (SELECT price, ts FROM price_hourly
                          WHERE coin_id = p.coin_id AND currency_code = p.currency_code
                          ORDER BY ts DESC LIMIT 1) h ON true
      LEFT JOIN LATERAL (SELECT l.price, coalesce(l.last_updated_at, l.fetched_at) AS at,
                                l.change_1h, l.change_24h, l.change_7d, l.market_cap,
                                l.volume_24h, l.sparkline
                           FROM price_latest l
                          WHERE l.coin_id = p.coin_id AND l.currency_code = p.currency_code) q
             ON true
      -- The hour wins a tie (an average, the quote one sample); a quote without a price
      -- shows nothing.
      CROSS JOIN LATERAL (SELECT q.price IS NOT NULL AND (h.ts IS NULL OR q.at > h.ts)
                                 AS quote_shown) shown
      LEFT JOIN LATERAL (SELECT price FROM price_hourly
                          WHERE coin_id = p.coin_id AND currency_code = p.currency_code
                            AND ts <= h.ts - interval '1 hour'
                          ORDER BY ts DESC LIMIT 1) h1 ON true
      LEFT JOIN LATERAL (SELECT price FROM price_hourly
                          WHERE coin_id = p.coin_id AND currency_code = p.currency_code
                            AND ts <= h.ts - interval '24 hours'
                          ORDER BY ts DESC LIMIT 1) h24 ON true
      LEFT JOIN LATERAL (SELECT price FROM price_hourly
                          WHERE coin_id = p.coin_id AND currency_code = p.currency_code
                            AND ts <= h.ts - interval '168 hours'
                          ORDER BY ts DESC LIMIT 1) h168 ON true
      -- A price outside single precision's range is drawn at its end (as V7); 5 significant
      -- digits by float arithmetic (half the time of V7's numeric rounding, the same JSON).
      LEFT JOIN LATERAL (SELECT count(*) AS hours,
                                array_to_json(array_agg((round(t.c / t.step) * t.step)::real
                                                        ORDER BY ph.ts)) AS sparkline
                           FROM price_hourly ph,
                                LATERAL (SELECT c, 10 ^ (floor(log(c)) - 4)
                                           FROM (SELECT greatest(least(ph.price, 3.4e38), 1.5e-45)) AS x(c))
                                        AS t(c, step)
                          WHERE ph.coin_id = p.coin_id AND ph.currency_code = p.currency_code
                            AND ph.ts > h.ts - interval '168 hours') week ON true
     WHERE h.ts IS NOT NULL OR q.at IS NOT NULL OR p.tracked
    ON CONFLICT (coin_id, currency_code) DO UPDATE
       SET price = EXCLUDED.price, price_at = EXCLUDED.price_at, change_1h = EXCLUDED.change_1h,
           change_24h = EXCLUDED.change_24h, change_7d = EXCLUDED.change_7d,
           market_cap = EXCLUDED.market_cap, volume_24h = EXCLUDED.volume_24h,
           sparkline = EXCLUDED.sparkline, refreshed_at = now()
     -- An unchanged row is not rewritten (its 12 sort indexes stay as they are).
     WHERE (s.price, s.price_at, s.change_1h, s.change_24h, s.change_7d, s.market_cap,
            s.volume_24h, s.sparkline::text)
           IS DISTINCT FROM (EXCLUDED.price, EXCLUDED.price_at, EXCLUDED.change_1h,
                             EXCLUDED.change_24h, EXCLUDED.change_7d, EXCLUDED.market_cap,
                             EXCLUDED.volume_24h, EXCLUDED.sparkline::text);
END $$;

-- One pair (the history run calls it in the transaction that writes the pair's hours).
CREATE FUNCTION refresh_market_summary(p_coin text, p_currency text) RETURNS void
LANGUAGE sql AS $$
    SELECT refresh_market_summaries(ARRAY[p_coin], ARRAY[p_currency]);
$$;

-- Every stored pair (after this migration, and for tests that write rows directly).
CREATE FUNCTION refresh_market_summaries() RETURNS void
LANGUAGE sql AS $$
    SELECT refresh_market_summaries(ARRAY(SELECT id FROM coins), ARRAY(SELECT code FROM currencies));
$$;

SELECT refresh_market_summaries();
