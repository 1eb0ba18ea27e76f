//! Parsing JSON that is still arriving: `{"city": "Lon` reads as `{"city": "Lon"}`.

use serde_json::{Map, Number, Value};

/// Parse a prefix of a JSON document. Incomplete strings are kept as far as they go;
/// incomplete numbers, keys without values and unfinished literals are left out.
/// Returns `None` when nothing useful can be read yet.
pub fn parse_partial(text: &str) -> Option<Value> {
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return None;
    }
    let value = jiter::JsonValue::parse_with_config(
        trimmed.as_bytes(),
        false,
        jiter::PartialMode::TrailingStrings,
    )
    .ok()?;
    Some(convert(&value))
}

fn convert(value: &jiter::JsonValue<'_>) -> Value {
    match value {
        jiter::JsonValue::Null => Value::Null,
        jiter::JsonValue::Bool(b) => Value::Bool(*b),
        jiter::JsonValue::Int(i) => Value::Number((*i).into()),
        jiter::JsonValue::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        jiter::JsonValue::Str(s) => Value::String(s.to_string()),
        jiter::JsonValue::Array(items) => Value::Array(items.iter().map(convert).collect()),
        jiter::JsonValue::Object(entries) => {
            let mut map = Map::new();
            for (k, v) in entries.iter() {
                map.insert(k.to_string(), convert(v));
            }
            Value::Object(map)
        }
    }
}

/// The JSON inside a Markdown code fence that may not be closed yet.
pub fn strip_open_fence(text: &str) -> &str {
    let t = text.trim_start();
    match t.strip_prefix("```") {
        Some(rest) => {
            let body = rest.split_once('\n').map_or("", |(_, b)| b);
            body.trim_end().strip_suffix("```").unwrap_or(body)
        }
        None => t,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prefixes_parse_as_far_as_they_go() {
        assert_eq!(parse_partial(""), None);
        assert_eq!(parse_partial("{"), Some(json!({})));
        assert_eq!(
            parse_partial("{\"city\": \"Lon"),
            Some(json!({"city": "Lon"}))
        );
        assert_eq!(
            parse_partial("{\"city\": \"London\", \"coun"),
            Some(json!({"city": "London"}))
        );
        assert_eq!(
            parse_partial("{\"n\": [1, 2, 3"),
            Some(json!({"n": [1, 2, 3]}))
        );
        assert_eq!(parse_partial("{\"a\": tr"), Some(json!({})));
        assert_eq!(strip_open_fence("```json\n{\"a\": 1"), "{\"a\": 1");
    }
}
