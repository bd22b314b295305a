//! The form of an answer that comes in two ([`Format`]): the `format` query parameter when
//! given, else what the request's `Accept` header prefers.
//!
//! In AWS a CloudFront Function (`PricesFormatFunction` in `template.yaml`) applies the same
//! rule at the edge and writes the outcome into the query string, so the cache key, which holds
//! no client-chosen header, still tells the two forms apart. `format-cases.json` holds the cases
//! both implementations are tested against.

use http::header::{HeaderMap, ACCEPT};
use serde::Deserialize;
use utoipa::ToSchema;

/// The body's form: the JSON envelope or a CSV table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(super) enum Format {
    /// `application/json`: the envelope.
    Json,
    /// `text/csv`: a header row, then one row per point (RFC 4180).
    Csv,
}

impl Format {
    /// `given` (the query's `format`) when there is one; else CSV when `Accept` gives
    /// `text/csv` a higher quality than `application/json`, else JSON (ties and no `Accept`
    /// included).
    pub(super) fn chosen(given: Option<Format>, headers: &HeaderMap) -> Format {
        if let Some(format) = given {
            return format;
        }
        // Every `Accept` line, as one list (bytes that are not UTF-8 match no media type).
        let accept = headers
            .get_all(ACCEPT)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
            .collect::<Vec<_>>()
            .join(",");
        if quality(&accept, "text", "csv") > quality(&accept, "application", "json") {
            Format::Csv
        } else {
            Format::Json
        }
    }
}

/// The quality, in thousandths, that `accept` gives `kind/subtype`: that of the first of its
/// most specific media ranges naming it (`kind/subtype`, then `kind/*`, then `*/*`; names in
/// any case, parameters other than `q` ignored), 0 when none does. A range whose weight is not
/// an RFC 9110 qvalue is ignored.
fn quality(accept: &str, kind: &str, subtype: &str) -> u16 {
    let mut best: Option<(u8, u16)> = None; // (specificity, quality)
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim();
        let Some((k, s)) = media.split_once('/') else {
            continue;
        };
        let (k, s) = (k.trim(), s.trim());
        let specificity = if k.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(subtype) {
            2
        } else if k.eq_ignore_ascii_case(kind) && s == "*" {
            1
        } else if k == "*" && s == "*" {
            0
        } else {
            continue;
        };
        if best.is_some_and(|(known, _)| known >= specificity) {
            continue;
        }
        let mut weight = Some(1000);
        for parameter in parts {
            if let Some((name, value)) = parameter.split_once('=') {
                if name.trim().eq_ignore_ascii_case("q") {
                    weight = qvalue(value.trim());
                }
            }
        }
        if let Some(weight) = weight {
            best = Some((specificity, weight));
        }
    }
    best.map_or(0, |(_, weight)| weight)
}

/// RFC 9110's `qvalue` (`0`, `0.5`, `1.000`; at most three decimals, at most 1) in
/// thousandths; anything else is `None`.
fn qvalue(text: &str) -> Option<u16> {
    let (whole, decimals) = text.split_once('.').unwrap_or((text, ""));
    if decimals.len() > 3 || !decimals.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{decimals:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    /// `format-cases.json`: each `Accept` (absent, one header, or several header lines) with
    /// the format it selects when the query gives none. The CloudFront Function is run
    /// against the same file (`scripts/check_template.py`).
    #[derive(Deserialize)]
    struct Case {
        accept: Option<Accept>,
        format: Format,
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Accept {
        One(String),
        Lines(Vec<String>),
    }

    #[test]
    fn accept_selects_csv_only_when_it_prefers_text_csv_to_json() {
        let cases: Vec<Case> = serde_json::from_str(include_str!("format-cases.json")).unwrap();
        assert!(cases.len() >= 20, "{} cases", cases.len());
        for case in cases {
            let lines = match case.accept {
                None => vec![],
                Some(Accept::One(line)) => vec![line],
                Some(Accept::Lines(lines)) => lines,
            };
            let mut headers = HeaderMap::new();
            for line in &lines {
                headers.append(ACCEPT, HeaderValue::from_str(line).unwrap());
            }
            assert_eq!(Format::chosen(None, &headers), case.format, "{lines:?}");
        }
    }

    #[test]
    fn a_format_in_the_query_wins_over_accept() {
        let mut csv = HeaderMap::new();
        csv.insert(ACCEPT, HeaderValue::from_static("text/csv"));
        assert_eq!(Format::chosen(Some(Format::Json), &csv), Format::Json);
        assert_eq!(
            Format::chosen(Some(Format::Csv), &HeaderMap::new()),
            Format::Csv
        );
    }

    #[test]
    fn qvalues_are_rfc_9110s_in_thousandths() {
        for (text, want) in [
            ("1", Some(1000)),
            ("1.", Some(1000)),
            ("1.000", Some(1000)),
            ("0", Some(0)),
            ("0.5", Some(500)),
            ("0.05", Some(50)),
            ("0.125", Some(125)),
            ("1.001", None),
            ("0.1234", None),
            (".5", None),
            ("2", None),
            ("-0", None),
            ("0x1", None),
            ("", None),
            ("0.5e0", None),
        ] {
            assert_eq!(qvalue(text), want, "{text:?}");
        }
    }
}
