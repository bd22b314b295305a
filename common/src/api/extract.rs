//! The API's extractors: a query string deserialised into a typed struct with the API's rules
//! ([`ApiQuery`]) and a coin id from the path ([`CoinId`]). Both reject with an [`ApiError`],
//! so a bad request gets the envelope and a message that says what is allowed.

use std::fmt;

use axum::extract::{FromRequestParts, Path};
use http::request::Parts;
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};

use super::error::ApiError;
use crate::config::is_coin_id;

/// The query string as `T` (a `Deserialize` + `IntoParams` struct of optional fields).
///
/// The rules every route shares: values are percent-decoded UTF-8 with `+` as a space (other
/// bytes are a 400), a parameter given twice is a 400, and unknown parameters are ignored. A
/// value a field cannot take is a 400 naming the field and what it allows.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let mut pairs = Vec::new();
        for part in parts.uri.query().unwrap_or("").split('&') {
            if part.is_empty() {
                continue;
            }
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((decode(name)?, decode(value)?));
        }
        T::deserialize(Pairs {
            pairs: pairs.into_iter(),
            value: None,
        })
        .map(ApiQuery)
        .map_err(|e| ApiError::InvalidParameter(e.0))
    }
}

fn decode(text: &str) -> Result<String, ApiError> {
    let bytes: Vec<u8> =
        percent_encoding::percent_decode(text.replace('+', " ").as_bytes()).collect();
    String::from_utf8(bytes).map_err(|_| {
        ApiError::InvalidParameter("query parameters must be percent-encoded UTF-8 text".into())
    })
}

/// The `{id}` of a coin route, shaped like a CoinGecko id. Anything else (bytes that are not
/// UTF-8, slashes, capitals, 200 characters) cannot name a coin: 404, as an unknown coin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoinId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CoinId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) if is_coin_id(&id) => Ok(CoinId(id)),
            _ => Err(ApiError::NotFound("unknown coin id".into())),
        }
    }
}

/// A whole number from `MIN` to `MAX`, as a query parameter takes it; anything else is a 400
/// saying so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounded<const MIN: i64, const MAX: i64>(pub i64);

impl<'de, const MIN: i64, const MAX: i64> serde::Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.parse::<i64>() {
            Ok(n) if (MIN..=MAX).contains(&n) => Ok(Bounded(n)),
            _ => Err(de::Error::custom(format_args!(
                "{FIELD}must be a whole number from {MIN} to {MAX}"
            ))),
        }
    }
}

impl utoipa::IntoParams for CoinId {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[a-z0-9][a-z0-9-]{0,99}$"))
            .examples(["bitcoin", "avalanche-2"]);
        vec![ParameterBuilder::new()
            .name("id")
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .description(Some(
                "A tracked coin id (CoinGecko's id). Anything that cannot be a coin id (upper case, spaces, over 100 characters) is 404, like an id that is not tracked.",
            ))
            .schema(Some(schema))
            .example(Some("bitcoin".into()))
            .build()]
    }
}

/// Why a query string does not fit its struct: the message the client gets.
#[derive(Debug)]
struct QueryError(String);

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QueryError {}

impl de::Error for QueryError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        QueryError(message.to_string())
    }

    fn duplicate_field(field: &'static str) -> Self {
        QueryError(format!("{field} must be given at most once"))
    }

    fn unknown_variant(_: &str, expected: &'static [&'static str]) -> Self {
        QueryError(format!("{FIELD}must be {}", one_of(expected)))
    }
}

/// Stands for the parameter's name in a message made without it; [`Pairs`] puts the name in.
const FIELD: &str = "\u{0}";

/// `a`, `a or b`, `a, b or c`.
fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// The decoded pairs as a map of strings.
struct Pairs {
    pairs: std::vec::IntoIter<(String, String)>,
    value: Option<(String, String)>,
}

impl<'de> de::Deserializer<'de> for Pairs {
    type Error = QueryError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

impl<'de> de::MapAccess<'de> for Pairs {
    type Error = QueryError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, QueryError> {
        let Some((name, value)) = self.pairs.next() else {
            return Ok(None);
        };
        let key = seed.deserialize(name.as_str().into_deserializer())?;
        self.value = Some((name, value));
        Ok(Some(key))
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, QueryError> {
        let (name, value) = self.value.take().expect("a value follows its key");
        seed.deserialize(Value(value))
            .map_err(|QueryError(message)| QueryError(message.replace(FIELD, &(name + " "))))
    }
}

/// One parameter's value: text, read as the field's type asks.
struct Value(String);

impl Value {
    fn parse<T: std::str::FromStr>(&self, what: &str) -> Result<T, QueryError> {
        self.0
            .parse()
            .map_err(|_| QueryError(format!("{FIELD}must be {what}")))
    }
}

macro_rules! parse_number {
    ($($method:ident => $visit:ident: $ty:ty, $what:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
            visitor.$visit(self.parse::<$ty>($what)?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Value {
    type Error = QueryError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        visitor.visit_string(self.0)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        visitor.visit_some(self)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        visitor.visit_bool(self.parse("true or false")?)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, QueryError> {
        visitor.visit_enum(self.0.into_deserializer())
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, QueryError> {
        visitor.visit_newtype_struct(self)
    }

    parse_number! {
        deserialize_i8 => visit_i8: i8, "a whole number";
        deserialize_i16 => visit_i16: i16, "a whole number";
        deserialize_i32 => visit_i32: i32, "a whole number";
        deserialize_i64 => visit_i64: i64, "a whole number";
        deserialize_u8 => visit_u8: u8, "a whole number";
        deserialize_u16 => visit_u16: u16, "a whole number";
        deserialize_u32 => visit_u32: u32, "a whole number";
        deserialize_u64 => visit_u64: u64, "a whole number";
        deserialize_f32 => visit_f32: f32, "a number";
        deserialize_f64 => visit_f64: f64, "a number";
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct seq tuple tuple_struct map
        struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Interval {
        Daily,
        Hourly,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Params {
        currency: Option<String>,
        interval: Option<Interval>,
        limit: Option<u8>,
        page: Option<Bounded<1, 100>>,
    }

    async fn parse(query: &str) -> Result<Params, String> {
        let request = http::Request::get(format!("/x?{query}")).body(()).unwrap();
        let (mut parts, ()) = request.into_parts();
        ApiQuery::<Params>::from_request_parts(&mut parts, &())
            .await
            .map(|ApiQuery(p)| p)
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn decodes_typed_values_and_ignores_unknown_names() {
        let p = parse("currency=us+d%21&interval=hourly&limit=7&other=%41&&x")
            .await
            .unwrap();
        assert_eq!(
            p,
            Params {
                currency: Some("us d!".into()),
                interval: Some(Interval::Hourly),
                limit: Some(7),
                page: None,
            }
        );
        let empty = parse("").await.unwrap();
        assert_eq!(empty.currency, None);
    }

    #[tokio::test]
    async fn says_which_parameter_is_wrong_and_what_it_allows() {
        let cases = [
            ("interval=weekly", "interval must be daily or hourly"),
            ("limit=x", "limit must be a whole number"),
            ("limit=300", "limit must be a whole number"),
            ("page=0", "page must be a whole number from 1 to 100"),
            ("page=1.5", "page must be a whole number from 1 to 100"),
            (
                "currency=usd&currency=eur",
                "currency must be given at most once",
            ),
            (
                "currency=%FF",
                "query parameters must be percent-encoded UTF-8 text",
            ),
            (
                "%FF=usd",
                "query parameters must be percent-encoded UTF-8 text",
            ),
        ];
        for (query, message) in cases {
            assert_eq!(parse(query).await.unwrap_err(), message, "{query}");
        }
    }
}
