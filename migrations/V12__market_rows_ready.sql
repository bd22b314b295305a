-- A market page of 100 at 1,000 tracked coins took ~2 ms to serve in process: PostgreSQL
-- joined every summary row to its coin and metadata (0.4 of the 0.5 ms it spent) and the API
-- checked and re-wrote 176 KB of JSON. Each summary row now also carries what the page shows of
-- its coin and its JSON object, written with the row; a page is one index scan of one table,
-- and the route sends the objects as they are.

-- A row (~3 KB with its object) stays whole and as it is: compressed or moved out of line
-- (past the default 2 KB), every read of a page would unpack it. Set before the columns are
-- added, as the refresh below rewrites every row.
ALTER TABLE market_summary SET (toast_tuple_target = 8160);

-- The coin's columns as `coins` and `coin_metadata` hold them, and the row's object
-- (`market_row_json`). Written by the refresh, and followed on every change of the coin by the
-- triggers below, whatever writes it.
ALTER TABLE market_summary
    ADD COLUMN symbol     text    NOT NULL DEFAULT '',
    ADD COLUMN name       text    NOT NULL DEFAULT '',
    ADD COLUMN image_url  text,
    ADD COLUMN rank       integer,
    ADD COLUMN sort_order integer NOT NULL DEFAULT 0,
    ADD COLUMN tracked    boolean NOT NULL DEFAULT false,
    ADD COLUMN row_json   text    NOT NULL DEFAULT '';

-- The row as `/api/market` sends it, all but `stale` (it depends on the clock; the route adds
-- it). Keys in the order of the route's `MarketRow`; the table's CHECKs keep every number
-- finite. Numbers in PostgreSQL's shortest text that reads back as the same double (`30`
-- where serde writes `30.0`: the same JSON number; any extra_float_digits above 0, the
-- default 1 included). The time as the API writes times everywhere (RFC 3339 in UTC with a
-- `Z`, a fraction only when there is one: milliseconds when exact, else microseconds).
-- PL/pgSQL: an SQL function calling stable ones is not inlined, and runs four times slower.
CREATE FUNCTION market_row_json(
    p_id text, p_symbol text, p_name text, p_image_url text, p_rank integer,
    p_price double precision, p_price_at timestamptz, p_change_1h double precision,
    p_change_24h double precision, p_change_7d double precision,
    p_market_cap double precision, p_volume_24h double precision, p_sparkline json)
RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    utc   timestamp := p_price_at AT TIME ZONE 'UTC';
    micro text := to_char(utc, 'US');
BEGIN
    RETURN json_build_object(
        'id', p_id, 'symbol', p_symbol, 'name', p_name, 'imageUrl', p_image_url,
        'rank', p_rank, 'price', p_price,
        'updatedAt', to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS')
                     || CASE WHEN micro = '000000' THEN ''
                             WHEN right(micro, 3) = '000' THEN '.' || left(micro, 3)
                             ELSE '.' || micro END
                     || 'Z',
        'change1h', p_change_1h, 'change24h', p_change_24h, 'change7d', p_change_7d,
        'marketCap', p_market_cap, 'volume24h', p_volume_24h, 'sparkline7d', p_sparkline)::text;
END $$;

-- As V11's, the coin's columns and the object written with the rest.
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
           coalesce((week.line).points, q.sparkline, '[]'::json) AS sparkline,
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
     -- every shown value, each number in the one text that reads back as it.
     WHERE (s.row_json, s.sparkline_from, s.sparkline_to, s.sort_order, s.tracked)
           IS DISTINCT FROM (EXCLUDED.row_json, EXCLUDED.sparkline_from, EXCLUDED.sparkline_to,
                             EXCLUDED.sort_order, EXCLUDED.tracked);
END $$;

-- The sorts by rank (unranked last, then the configured order, then the id) and by name, over
-- the tracked coins: their rows are read in order from these. A page's total counts the
-- tracked rows of its currency from the smallest index that holds them (one deduplicated key).
CREATE INDEX market_summary_tracked_idx ON market_summary (currency_code) WHERE tracked;
CREATE INDEX market_summary_rank_asc_idx
    ON market_summary (currency_code, rank ASC NULLS LAST, sort_order, coin_id) WHERE tracked;
CREATE INDEX market_summary_rank_desc_idx
    ON market_summary (currency_code, rank DESC NULLS LAST, sort_order, coin_id) WHERE tracked;
CREATE INDEX market_summary_name_idx
    ON market_summary (currency_code, lower(name), coin_id) WHERE tracked;
-- V10's indexes of `coins` for those sorts have no reader left (the tracked coins by rank
-- still read coins_tracked_rank_idx).
DROP INDEX coins_tracked_rank_desc_idx;
DROP INDEX coins_tracked_name_idx;

-- A coin's change reaches its rows; a coin that becomes tracked is refreshed in every
-- currency (so it is listed, with nulls until its first price there: a page and its total
-- need no other table). Each trigger first takes the refresh's lock: every writer of
-- market_summary then holds it before its first row, so two of them never wait on each
-- other's rows (a metadata run and a live refresh would otherwise deadlock, each holding rows
-- the other wants next).
CREATE FUNCTION market_summary_follow_coin() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7165923480996638067);
    IF NEW.tracked AND (TG_OP = 'INSERT' OR NOT OLD.tracked) THEN
        PERFORM refresh_market_summaries(ARRAY[NEW.id], ARRAY(SELECT code FROM currencies));
    END IF;
    IF TG_OP = 'UPDATE' THEN
        UPDATE market_summary s
           SET symbol = NEW.symbol, name = NEW.name, rank = NEW.rank,
               sort_order = NEW.sort_order, tracked = NEW.tracked,
               row_json = market_row_json(s.coin_id, NEW.symbol, NEW.name, s.image_url,
                                          NEW.rank, s.price, s.price_at, s.change_1h,
                                          s.change_24h, s.change_7d, s.market_cap,
                                          s.volume_24h, s.sparkline)
         WHERE s.coin_id = NEW.id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER market_summary_follow_new_coin AFTER INSERT ON coins
    FOR EACH ROW WHEN (NEW.tracked) EXECUTE FUNCTION market_summary_follow_coin();
CREATE TRIGGER market_summary_follow_coin AFTER UPDATE ON coins
    FOR EACH ROW
    WHEN ((OLD.symbol, OLD.name, OLD.rank, OLD.sort_order, OLD.tracked)
          IS DISTINCT FROM (NEW.symbol, NEW.name, NEW.rank, NEW.sort_order, NEW.tracked))
    EXECUTE FUNCTION market_summary_follow_coin();

-- The coin's image, as its metadata changes.
CREATE FUNCTION market_summary_follow_image() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    coin  text := CASE WHEN TG_OP = 'DELETE' THEN OLD.coin_id ELSE NEW.coin_id END;
    image text := CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE NEW.image_url END;
BEGIN
    PERFORM pg_advisory_xact_lock(7165923480996638067);
    UPDATE market_summary s
       SET image_url = image,
           row_json = market_row_json(s.coin_id, s.symbol, s.name, image, s.rank, s.price,
                                      s.price_at, s.change_1h, s.change_24h, s.change_7d,
                                      s.market_cap, s.volume_24h, s.sparkline)
     WHERE s.coin_id = coin;
    RETURN NULL;
END $$;

CREATE TRIGGER market_summary_follow_new_image AFTER INSERT ON coin_metadata
    FOR EACH ROW WHEN (NEW.image_url IS NOT NULL) EXECUTE FUNCTION market_summary_follow_image();
CREATE TRIGGER market_summary_follow_image AFTER UPDATE ON coin_metadata
    FOR EACH ROW WHEN (OLD.image_url IS DISTINCT FROM NEW.image_url)
    EXECUTE FUNCTION market_summary_follow_image();
CREATE TRIGGER market_summary_forget_image AFTER DELETE ON coin_metadata
    FOR EACH ROW WHEN (OLD.image_url IS NOT NULL) EXECUTE FUNCTION market_summary_follow_image();

-- A new currency lists every tracked coin.
CREATE FUNCTION market_summary_follow_currency() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM refresh_market_summaries(ARRAY(SELECT id FROM coins WHERE tracked), ARRAY[NEW.code]);
    RETURN NULL;
END $$;

CREATE TRIGGER market_summary_follow_currency AFTER INSERT ON currencies
    FOR EACH ROW EXECUTE FUNCTION market_summary_follow_currency();

-- Every row written again with its coin and object (and a row for each tracked coin in each
-- currency).
SELECT refresh_market_summaries();

ANALYZE market_summary;
