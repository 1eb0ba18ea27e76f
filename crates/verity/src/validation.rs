//! Deserializing model-supplied JSON into Rust types, with errors that name the field.

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Validation errors in PydanticAI's shape: a list of `{type, loc, msg, input}` objects.
/// `loc` is the path of the failing field.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationErrors(pub Vec<Value>);

impl ValidationErrors {
    /// One error with no location.
    pub fn message(kind: &str, msg: impl Into<String>, input: Value) -> Self {
        ValidationErrors(vec![
            json!({"type": kind, "loc": [], "msg": msg.into(), "input": input}),
        ])
    }

    /// The errors as a JSON array, the content of a retry prompt.
    pub fn to_value(&self) -> Value {
        Value::Array(self.0.clone())
    }
}

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", Value::Array(self.0.clone()))
    }
}

/// Deserialize `value` as `T`; on failure, say which field failed and why.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, ValidationErrors> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut loc: Vec<Value> = Vec::new();
        for seg in e.path().iter() {
            match seg {
                serde_path_to_error::Segment::Seq { index } => loc.push(json!(index)),
                serde_path_to_error::Segment::Map { key } => loc.push(json!(key)),
                serde_path_to_error::Segment::Enum { variant } => loc.push(json!(variant)),
                serde_path_to_error::Segment::Unknown => {}
            }
        }
        let input = locate(value, &loc).cloned().unwrap_or(Value::Null);
        let message = e.inner().to_string();
        let (kind, msg) = if let Some(field) = backticked(&message, "missing field `") {
            loc.push(json!(field));
            ("missing", "Field required".to_owned())
        } else if let Some(field) = backticked(&message, "unknown field `") {
            loc.push(json!(field));
            (
                "extra_forbidden",
                "Extra inputs are not permitted".to_owned(),
            )
        } else if message.starts_with("invalid type") {
            ("invalid_type", strip_position(&message))
        } else {
            ("value_error", strip_position(&message))
        };
        ValidationErrors(vec![
            json!({"type": kind, "loc": loc, "msg": msg, "input": input}),
        ])
    })
}

/// Parse JSON text and deserialize it as `T`, reporting invalid JSON as a validation error.
pub fn from_json_str<T: DeserializeOwned>(text: &str) -> Result<T, ValidationErrors> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ValidationErrors::message("json_invalid", format!("Invalid JSON: {e}"), json!(text))
    })?;
    from_value(&value)
}

fn backticked<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message.get(..i).unwrap_or(message).to_owned(),
        None => message.to_owned(),
    }
}

fn locate<'a>(value: &'a Value, loc: &[Value]) -> Option<&'a Value> {
    let mut cur = value;
    for seg in loc {
        cur = match seg {
            Value::Number(n) => cur.get(usize::try_from(n.as_u64()?).ok()?)?,
            Value::String(k) => cur.get(k.as_str())?,
            _ => return None,
        };
    }
    Some(cur)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        items: Vec<Inner>,
    }

    #[test]
    fn errors_name_the_field_path() {
        let e = from_value::<Outer>(&json!({"name": "x", "items": [{"n": 1}, {"n": "two"}]}))
            .unwrap_err();
        assert_eq!(e.0[0]["loc"], json!(["items", 1, "n"]));
        assert_eq!(e.0[0]["input"], json!("two"));
        let e = from_value::<Outer>(&json!({"items": []})).unwrap_err();
        assert_eq!(e.0[0]["loc"], json!(["name"]));
        assert_eq!(e.0[0]["type"], "missing");
        let e = from_json_str::<Outer>("{not json").unwrap_err();
        assert_eq!(e.0[0]["type"], "json_invalid");
    }
}
