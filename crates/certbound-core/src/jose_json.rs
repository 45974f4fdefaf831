//! JSON for the JWTs clients present (DPoP proofs, client assertions): one object, and no
//! member name twice at any depth.
//!
//! RFC 7515 §5.2 and RFC 7519 §7.2 let a JWS/JWT parser either reject duplicate member names or
//! take the last one; serde_json silently takes the last. A proof or an assertion read one way by
//! certbound and another way by a proxy, a logger or another server is a classic confusion
//! (`{"htm":"GET","htm":"POST"}`), so certbound rejects duplicates outright.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Parses `bytes` as one JSON object in which no object has a member name twice.
pub fn parse_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Strict>(bytes) {
        Ok(Strict(Value::Object(map))) => Some(map),
        _ => None,
    }
}

/// A JSON value read with duplicate member names refused.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(value) = map.next_value()?;
            if out.insert(key, value).is_some() {
                return Err(de::Error::custom("duplicate member name"));
            }
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_at_every_depth() {
        let ok = parse_object(br#"{"a":1,"b":{"c":[{"d":true},{"d":false}]},"e":null,"f":1.5}"#)
            .expect("no duplicates");
        assert_eq!(ok["b"]["c"][1]["d"], false);
        for bad in [
            &br#"{"htm":"GET","htm":"POST"}"#[..],
            br#"{"jwk":{"x":"a","x":"b"}}"#,
            br#"{"a":[{"k":1,"k":1}]}"#,
            br#"[1,2]"#,
            br#""text""#,
            br#"{"a":1"#,
            br#"{"a":1} {"b":2}"#,
        ] {
            assert!(
                parse_object(bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // Member names are compared after JSON unescaping: "h\u0074m" is "htm".
        assert!(parse_object(br#"{"htm":"GET","h\u0074m":"POST"}"#).is_none());
    }
}
