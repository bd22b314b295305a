-- The market page sent 176 KB for 100 coins, four fifths of it sparklines: 168 hourly points
-- each, drawn 64 to 120 pixels wide. A row now shows one point in four (42 for a week, every
-- fourth hour counted back from the newest, so the line still ends at the price shown), and
-- its object is written without the blanks json_build_object puts around each key: a page of
-- 100 is about 65 KB. The hours stay in the row, as an array of reals: the live refresh takes
-- them as they are instead of reading the JSON of 4,000 sparklines back at every run.

-- CoinGecko's 7-day sparkline (`price_latest.sparkline`, JSON) as an array.
CREATE FUNCTION market_spark_points(p json) RETURNS real[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY(SELECT json_array_elements_text(p)::real)
$$;

ALTER TABLE market_summary ALTER COLUMN sparkline DROP DEFAULT;
ALTER TABLE market_summary ALTER COLUMN sparkline TYPE real[] USING market_spark_points(sparkline);
ALTER TABLE market_summary ALTER COLUMN sparkline SET DEFAULT '{}';

ALTER TYPE market_sparkline ALTER ATTRIBUTE points TYPE real[];

-- The sparkline a row shows: every fourth point counted back from the newest (a line of fewer
-- than 8 points as it is). A loop: a subquery would make the call a query of its own.
CREATE FUNCTION market_table_sparkline(p real[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    n     integer := coalesce(cardinality(p), 0);
    i     integer := 1 + (n - 1) % 4;
    shown real[]  := '{}';
BEGIN
    IF n < 8 THEN
        RETURN array_to_json(coalesce(p, '{}'))::text;
    END IF;
    WHILE i <= n LOOP
        shown := shown || p[i];
        i := i + 4;
    END LOOP;
    RETURN array_to_json(shown)::text;
END $$;

-- As V12's, but the sparkline shown is `market_table_sparkline`'s, and the object is written
-- compact (as serde writes it). A null value is JSON null.
DROP FUNCTION market_row_json(text, text, text, text, integer, double precision, timestamptz,
                              double precision, double precision, double precision,
                              double precision, double precision, json);
CREATE FUNCTION market_row_json(
    p_id text, p_symbol text, p_name text, p_image_url text, p_rank integer,
    p_price double precision, p_price_at timestamptz, p_change_1h double precision,
    p_change_24h double precision, p_change_7d double precision,
    p_market_cap double precision, p_volume_24h double precision, p_sparkline real[])
RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    utc   timestamp := p_price_at AT TIME ZONE 'UTC';
    micro text := to_char(utc, 'US');
BEGIN
    RETURN '{"id":' || to_json(p_id)::text
        || ',"symbol":' || to_json(p_symbol)::text
        || ',"name":' || to_json(p_name)::text
        || ',"imageUrl":' || coalesce(to_json(p_image_url)::text, 'null')
        || ',"rank":' || coalesce(p_rank::text, 'null')
        || ',"price":' || coalesce(to_json(p_price)::text, 'null')
        || ',"updatedAt":' || coalesce('"' || to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS')
                                      || CASE WHEN micro = '000000' THEN ''
                                              WHEN right(micro, 3) = '000' THEN '.' || left(micro, 3)
                                              ELSE '.' || micro END
                                      || 'Z"', 'null')
        || ',"change1h":' || coalesce(to_json(p_change_1h)::text, 'null')
        || ',"change24h":' || coalesce(to_json(p_change_24h)::text, 'null')
        || ',"change7d":' || coalesce(to_json(p_change_7d)::text, 'null')
        || ',"marketCap":' || coalesce(to_json(p_market_cap)::text, 'null')
        || ',"volume24h":' || coalesce(to_json(p_volume_24h)::text, 'null')
        || ',"sparkline7d":' || market_table_sparkline(p_sparkline)
        || '}';
END $$;

-- As V12's, with the hours as an array: the live case takes the old one as it is.
CREATE OR REPLACE FUNCTION refresh_market_summaries(p_coins text[], p_currencies text[],
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
                                     sparkline_from, sparkline_to, symbol, name, image_url,
                                     rank, sort_order, tracked, row_json)
    SELECT r.*, market_row_json(r.coin_id, r.symbol, r.name, r.image_url, r.rank, r.price,
                                r.price_at, r.change_1h, r.change_24h, r.change_7d,
                                r.market_cap, r.volume_24h, r.sparkline)
      FROM (
    SELECT p.coin_id, p.currency_code,
           CASE WHEN quote_shown THEN q.price ELSE h.price END AS price,
           CASE WHEN quote_shown THEN q.at ELSE h.ts END AS price_at,
           coalesce(market_change(h.price, h1.price), round(q.change_1h::numeric, 4)::double precision)
               AS change_1h,
           CASE WHEN quote_shown AND q.change_24h IS NOT NULL
                THEN round(q.change_24h::numeric, 4)::double precision
                ELSE market_change(h.price, h24.price) END AS change_24h,
           coalesce(market_change(h.price, h168.price), round(q.change_7d::numeric, 4)::double precision)
               AS change_7d,
           q.market_cap, q.volume_24h,
           coalesce((week.line).points, market_spark_points(q.sparkline), '{}') AS sparkline,
           CASE WHEN (week.line).points IS NOT NULL THEN (week.line).first_hour END AS sparkline_from,
           CASE WHEN (week.line).points IS NOT NULL THEN (week.line).last_hour END AS sparkline_to,
           p.symbol, p.name, p.image_url, p.rank, p.sort_order, p.tracked
      FROM (SELECT c.id AS coin_id, v.code AS currency_code, c.tracked, c.symbol, c.name,
                   m.image_url, c.rank, c.sort_order
              FROM coins c JOIN currencies v ON v.code = ANY (p_currencies)
              LEFT JOIN coin_metadata m ON m.coin_id = c.id
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
                   AND cardinality(old.sparkline)
                       = extract(epoch FROM old.sparkline_to - old.sparkline_from)::int / 3600 + 1
                   AND cardinality(old.sparkline) >= 24
              THEN (SELECT ROW(old.sparkline[kept.lo:kept.hi] || market_spark_point(h.price),
                               CASE WHEN kept.lo = 2 THEN old.sparkline_from + interval '1 hour'
                                    ELSE old.sparkline_from END,
                               h.ts)::market_sparkline
                      FROM (SELECT -- A new hour pushes the oldest out of a full week.
                                   CASE WHEN h.ts > old.sparkline_to
                                             AND old.sparkline_from <= h.ts - interval '168 hours'
                                        THEN 2 ELSE 1 END AS lo,
                                   cardinality(old.sparkline)
                                       - CASE WHEN h.ts = old.sparkline_to THEN 1 ELSE 0 END AS hi) kept)
              ELSE (SELECT CASE WHEN count(*) >= 24 THEN
                               ROW(array_agg(market_spark_point(ph.price) ORDER BY ph.ts),
                                   min(ph.ts), max(ph.ts))::market_sparkline END
                      FROM price_hourly ph
                     WHERE ph.coin_id = p.coin_id AND ph.currency_code = p.currency_code
                       AND ph.ts > h.ts - interval '168 hours')
              END AS line
          -- Evaluated once a row, not once for each field read from it.
          OFFSET 0) week
     WHERE h.ts IS NOT NULL OR q.at IS NOT NULL OR p.tracked) r
    ON CONFLICT (coin_id, currency_code) DO UPDATE
       SET price = EXCLUDED.price, price_at = EXCLUDED.price_at, change_1h = EXCLUDED.change_1h,
           change_24h = EXCLUDED.change_24h, change_7d = EXCLUDED.change_7d,
           market_cap = EXCLUDED.market_cap, volume_24h = EXCLUDED.volume_24h,
           sparkline = EXCLUDED.sparkline, sparkline_from = EXCLUDED.sparkline_from,
           sparkline_to = EXCLUDED.sparkline_to, symbol = EXCLUDED.symbol,
           name = EXCLUDED.name, image_url = EXCLUDED.image_url, rank = EXCLUDED.rank,
           sort_order = EXCLUDED.sort_order, tracked = EXCLUDED.tracked,
           row_json = EXCLUDED.row_json, refreshed_at = now()
     -- An unchanged row is not rewritten (its sort indexes stay as they are). Its object holds
     -- every shown value, each number in the one text that reads back as it; the hours it
     -- shows but one in four of are compared as well.
     WHERE (s.row_json, s.sparkline, s.sparkline_from, s.sparkline_to, s.sort_order, s.tracked)
           IS DISTINCT FROM (EXCLUDED.row_json, EXCLUDED.sparkline, EXCLUDED.sparkline_from,
                             EXCLUDED.sparkline_to, EXCLUDED.sort_order, EXCLUDED.tracked);
END $$;

-- The triggers of V12 call market_row_json with the row's sparkline, now an array: the new
-- function. Every object written again.
UPDATE market_summary s
   SET row_json = market_row_json(s.coin_id, s.symbol, s.name, s.image_url, s.rank, s.price,
                                  s.price_at, s.change_1h, s.change_24h, s.change_7d,
                                  s.market_cap, s.volume_24h, s.sparkline);

ANALYZE market_summary;
