-- A live refresh of 1,000 coins x 4 currencies re-read every pair's week of hours to redraw
-- its sparkline, although a quote changes one point: the newest hour (its running mean), or a
-- new hour after it. Each row now remembers the hours its stored-hours sparkline spans, so a
-- live refresh takes the new last point (and drops the point that left the week) instead of
-- reading the week again, whenever the sparkline is one point an hour and the quote's hour is
-- its last hour or the next. Anything else reads the week as before.

ALTER TABLE market_summary
    -- The oldest and newest hour of a sparkline drawn from stored hours (null when it is
    -- CoinGecko's 7-day sparkline or empty).
    ADD COLUMN sparkline_from timestamptz,
    ADD COLUMN sparkline_to   timestamptz,
    ADD CONSTRAINT market_summary_sparkline_span
        CHECK ((sparkline_from IS NULL) = (sparkline_to IS NULL) AND sparkline_from <= sparkline_to);

-- One sparkline point: the price in single precision, 5 significant digits (V7's rule; a price
-- beyond single precision's range is drawn at its end).
CREATE FUNCTION market_spark_point(p double precision) RETURNS real
LANGUAGE sql IMMUTABLE AS $$
    -- One expression, so the planner inlines it (a body with FROM runs as a query per call).
    SELECT (round(greatest(least(p, 3.4e38), 1.5e-45)
                  / 10 ^ (floor(log(greatest(least(p, 3.4e38), 1.5e-45))) - 4))
            * 10 ^ (floor(log(greatest(least(p, 3.4e38), 1.5e-45))) - 4))::real
$$;

-- A sparkline and the hours it spans.
CREATE TYPE market_sparkline AS (points json, first_hour timestamptz, last_hour timestamptz);

DROP FUNCTION refresh_market_summary(text, text);
DROP FUNCTION refresh_market_summaries();
DROP FUNCTION refresh_market_summaries(text[], text[]);

-- As V10's, serialised (a transaction-scoped advisory lock, "cryptoms" in ASCII, taken before
-- reading anything, so each refresh reads what the one before it wrote: the live case below
-- builds on the stored row), plus `p_live`: the caller wrote no hour since the last refresh but each pair's
-- live-quote hour (the live refresh, after folding its quotes). A pair then keeps its
-- sparkline but its last point when the quote's hour is the sparkline's last hour, or appends
-- it (and drops the point that left the week) when it is the next hour; only when the
-- sparkline is one point an hour from `sparkline_from` to `sparkline_to` and has the 24 points
-- a stored-hours sparkline needs.
-- JIT is off: the statement's estimate (a subplan per pair) makes PostgreSQL compile it, which
-- takes longer than running it.
CREATE FUNCTION refresh_market_summaries(p_coins text[], p_currencies text[],
                                         p_live boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7165923480996638067);

    DELETE FROM market_summary s
     USING coins c
     WHERE s.coin_id = c.id AND s.coin_id = ANY (p_coins) AND s.currency_code = ANY (p_currencies)
       AND NOT c.tracked
       AND NOT EXISTS (SELECT 1 FROM price_latest q
                        WHERE q.coin_id = s.coin_id AND q.currency_code = s.currency_code)
       AND NOT EXISTS (SELECT 1 FROM price_hourly h
                        WHERE h.coin_id = s.coin_id AND h.currency_code = s.currency_code);

    INSERT INTO market_summary AS s (coin_id, currency_code, price, price_at, change_1h,
                                     change_24h, change_7d, market_cap, volume_24h, sparkline,
                                     sparkline_from, sparkline_to)
    SELECT p.coin_id, p.currency_code,
           CASE WHEN quote_shown THEN q.price ELSE h.price END,
           CASE WHEN quote_shown THEN q.at ELSE h.ts END,
           coalesce(market_change(h.price, h1.price), round(q.change_1h::numeric, 4)::double precision),
           CASE WHEN quote_shown AND q.change_24h IS NOT NULL
                THEN round(q.change_24h::numeric, 4)::double precision
                ELSE market_change(h.price, h24.price) END,
           coalesce(market_change(h.price, h168.price), round(q.change_7d::numeric, 4)::double precision),
           q.market_cap, q.volume_24h,
           coalesce((week.line).points, q.sparkline, '[]'::json),
           CASE WHEN (week.line).points IS NOT NULL THEN (week.line).first_hour END,
           CASE WHEN (week.line).points IS NOT NULL THEN (week.line).last_hour END
      FROM (SELECT c.id AS coin_id, v.code AS currency_code, c.tracked
              FROM coins c JOIN currencies v ON v.code = ANY (p_currencies)
             WHERE c.id = ANY (p_coins)) p
      LEFT JOIN LATERAL (SELECT price, ts FROM price_hourly
                          WHERE coin_id = p.coin_id AND currency_code = p.currency_code
                          ORDER BY ts DESC LIMIT 1) h ON true
      LEFT JOIN LATERAL (SELECT l.price, coalesce(l.last_updated_at, l.fetched_at) AS at,
                                l.last_updated_at, l.change_1h, l.change_24h, l.change_7d,
                                l.market_cap, l.volume_24h, l.sparkline
                           FROM price_latest l
                          WHERE l.coin_id = p.coin_id AND l.currency_code = p.currency_code) q
             ON true
      LEFT JOIN market_summary old
             ON old.coin_id = p.coin_id AND old.currency_code = p.currency_code
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
      -- The stored hours of the 168 up to the newest, when there are at least 24 of them:
      -- the old sparkline with its new last point (the live case above), else read again.
      CROSS JOIN LATERAL (
          SELECT CASE
              WHEN p_live AND old.sparkline_to IS NOT NULL
                   AND date_trunc('hour', q.last_updated_at, 'UTC') >= old.sparkline_to
                   AND h.ts IN (old.sparkline_to, old.sparkline_to + interval '1 hour')
                   AND json_array_length(old.sparkline)
                       = extract(epoch FROM old.sparkline_to - old.sparkline_from)::int / 3600 + 1
                   AND json_array_length(old.sparkline) >= 24
              THEN (SELECT ROW(array_to_json(kept.points[kept.lo:kept.hi] || market_spark_point(h.price)),
                               CASE WHEN kept.lo = 2 THEN old.sparkline_from + interval '1 hour'
                                    ELSE old.sparkline_from END,
                               h.ts)::market_sparkline
                      FROM (SELECT ARRAY(SELECT json_array_elements_text(old.sparkline)::real) AS points,
                                   -- A new hour pushes the oldest out of a full week.
                                   CASE WHEN h.ts > old.sparkline_to
                                             AND old.sparkline_from <= h.ts - interval '168 hours'
                                        THEN 2 ELSE 1 END AS lo,
                                   json_array_length(old.sparkline)
                                       - CASE WHEN h.ts = old.sparkline_to THEN 1 ELSE 0 END AS hi) kept)
              ELSE (SELECT CASE WHEN count(*) >= 24 THEN
                               ROW(array_to_json(array_agg(market_spark_point(ph.price) ORDER BY ph.ts)),
                                   min(ph.ts), max(ph.ts))::market_sparkline END
                      FROM price_hourly ph
                     WHERE ph.coin_id = p.coin_id AND ph.currency_code = p.currency_code
                       AND ph.ts > h.ts - interval '168 hours')
              END AS line
          -- Evaluated once a row, not once for each field read from it.
          OFFSET 0) week
     WHERE h.ts IS NOT NULL OR q.at IS NOT NULL OR p.tracked
    ON CONFLICT (coin_id, currency_code) DO UPDATE
       SET price = EXCLUDED.price, price_at = EXCLUDED.price_at, change_1h = EXCLUDED.change_1h,
           change_24h = EXCLUDED.change_24h, change_7d = EXCLUDED.change_7d,
           market_cap = EXCLUDED.market_cap, volume_24h = EXCLUDED.volume_24h,
           sparkline = EXCLUDED.sparkline, sparkline_from = EXCLUDED.sparkline_from,
           sparkline_to = EXCLUDED.sparkline_to, refreshed_at = now()
     -- An unchanged row is not rewritten (its 12 sort indexes stay as they are).
     WHERE (s.price, s.price_at, s.change_1h, s.change_24h, s.change_7d, s.market_cap,
            s.volume_24h, s.sparkline::text, s.sparkline_from, s.sparkline_to)
           IS DISTINCT FROM (EXCLUDED.price, EXCLUDED.price_at, EXCLUDED.change_1h,
                             EXCLUDED.change_24h, EXCLUDED.change_7d, EXCLUDED.market_cap,
                             EXCLUDED.volume_24h, EXCLUDED.sparkline::text,
                             EXCLUDED.sparkline_from, EXCLUDED.sparkline_to);
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
