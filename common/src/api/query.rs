//! Query-string parsing that keeps the raw bytes: non-UTF-8 input and repeated parameters
//! are a clear 400, unknown parameters are ignored.

use super::error::ApiError;

/// The decoded parameters of one request.
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes `raw` (`a=1&b=x%20y`); `+` is a space.
    pub fn parse(raw: Option<&str>) -> Result<Query, ApiError> {
        let mut pairs = Vec::new();
        for part in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((decode(k)?, decode(v)?));
        }
        Ok(Query { pairs })
    }

    /// The value of `name`, if given once; 400 if given more than once.
    pub fn one(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self
            .pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::InvalidParameter(format!(
                "{name} must be given at most once"
            )));
        }
        Ok(first)
    }
}

fn decode(s: &str) -> Result<String, ApiError> {
    let bytes: Vec<u8> = percent_encoding::percent_decode(s.replace('+', " ").as_bytes()).collect();
    String::from_utf8(bytes).map_err(|_| {
        ApiError::InvalidParameter("query parameters must be percent-encoded UTF-8 text".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_rejects_repeats_and_bad_bytes() {
        let q = Query::parse(Some(
            "currency=usd&from=2025-01-01T00%3A00%3A00Z&x&note=a+b",
        ))
        .unwrap();
        assert_eq!(q.one("currency").unwrap(), Some("usd"));
        assert_eq!(q.one("from").unwrap(), Some("2025-01-01T00:00:00Z"));
        assert_eq!(q.one("note").unwrap(), Some("a b"));
        assert_eq!(q.one("missing").unwrap(), None);
        let q = Query::parse(Some("currency=usd&currency=eur")).unwrap();
        assert!(q.one("currency").is_err());
        assert!(Query::parse(Some("currency=%FF%FE")).is_err());
        assert!(Query::parse(None).unwrap().one("a").unwrap().is_none());
    }
}
