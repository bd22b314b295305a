-- The market overview's sparklines, prepared as JSON when prices are written: 168 hourly
-- prices rounded to 5 significant digits (a drawing some 30 pixels high, not a price record:
-- a step of at most 1 in 10,000), rendered once in the ingester's transaction instead of on
-- every market request, and sent by the route as they are. Prices, changes and history keep
-- their full precision. A price outside single precision's range is drawn at its end (a
-- failing cast would fail the pair's write).

ALTER TABLE market_summary DROP COLUMN sparkline;
ALTER TABLE market_summary ADD COLUMN sparkline json NOT NULL DEFAULT '[]';

CREATE OR REPLACE FUNCTION refresh_market_summary(p_coin text, p_currency text) RETURNS void
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
           array_to_json(ARRAY(
               SELECT round(c::numeric, 4 - floor(log(c))::int)::real
                 FROM price_hourly,
                      LATERAL (SELECT greatest(least(price, 3.4e38), 1.5e-45)) AS t(c)
                WHERE coin_id = p_coin AND currency_code = p_currency
                  AND ts > l.ts - interval '168 hours'
                ORDER BY ts))
      FROM (SELECT price, ts FROM price_hourly
             WHERE coin_id = p_coin AND currency_code = p_currency
             ORDER BY ts DESC LIMIT 1) l;
END $$;

-- Derived data: recomputed for every pair by the function above.
SELECT refresh_market_summaries();
