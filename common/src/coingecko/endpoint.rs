//! [`CoinGeckoEndpoint`]: which endpoint a call is for. Each typed call names its own; the
//! transport counts calls and caps bodies by it. A new endpoint is a new variant, and the
//! compiler then asks for its cap.

/// A CoinGecko endpoint the client calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoinGeckoEndpoint {
    /// `/ping`.
    Ping,
    /// `/coins/list`.
    CoinsList,
    /// `/coins/{id}`.
    Coin,
    /// `/coins/{id}/market_chart/range`.
    MarketChartRange,
    /// `/simple/price`.
    SimplePrice,
    /// `/coins/markets`.
    Markets,
}

impl CoinGeckoEndpoint {
    pub(super) const ALL: [CoinGeckoEndpoint; 6] = [
        CoinGeckoEndpoint::Ping,
        CoinGeckoEndpoint::CoinsList,
        CoinGeckoEndpoint::Coin,
        CoinGeckoEndpoint::MarketChartRange,
        CoinGeckoEndpoint::SimplePrice,
        CoinGeckoEndpoint::Markets,
    ];

    /// The largest body this endpoint can plausibly need: a few times the largest real answer
    /// (sizes per item from recorded bodies). A larger one is refused unread past the cap.
    pub const fn body_cap(self) -> usize {
        match self {
            // `{"gecko_says":"(V3) To the Moon!"}` is 34 bytes.
            CoinGeckoEndpoint::Ping => 64 * KIB,
            // 57 B a coin recorded (7,248 coins in 414 KB); today's ~17k coins are ~1-1.5 MB.
            CoinGeckoEndpoint::CoinsList => 8 * MIB,
            // Bitcoin with every section on is 126 KB recorded (we ask for fewer).
            CoinGeckoEndpoint::Coin => 4 * MIB,
            // 103 B a sample recorded: 90 days hourly ~225 KB, 10 years daily ~380 KB, even
            // 90 days 5-minutely ~2.7 MB.
            CoinGeckoEndpoint::MarketChartRange => 4 * MIB,
            // ~110 B a coin and currency: a full id chunk (~150 ids) in 60 currencies ~1 MB.
            CoinGeckoEndpoint::SimplePrice => 4 * MIB,
            // ~1 KB of fields and ~3.5 KB of 7-day sparkline a coin: a page of 250 ~1.1 MB.
            CoinGeckoEndpoint::Markets => 8 * MIB,
        }
    }
}

pub(super) const KIB: usize = 1024;
pub(super) const MIB: usize = 1024 * KIB;
