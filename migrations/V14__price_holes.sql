-- Live quotes build a pair's hours from now on; they cannot fill the hours a pair went
-- without quotes: while its coin was out of the tracked set (it left the top N and came back)
-- or while nothing ran. A quote that comes more than a day after the pair's newest hour marks
-- a hole from that hour; the history run's depth phase fills it with one range call (hourly
-- within CoinGecko's 90 days) and then clears it.
CREATE TABLE price_holes (
    coin_id       text        NOT NULL REFERENCES coins (id) ON DELETE CASCADE,
    currency_code text        NOT NULL REFERENCES currencies (code) ON DELETE CASCADE,
    -- The newest hour stored before the hole: the hours after it are missing.
    since         timestamptz NOT NULL,
    found_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT price_holes_pkey PRIMARY KEY (coin_id, currency_code)
);

CREATE INDEX price_holes_currency_idx ON price_holes (currency_code);
