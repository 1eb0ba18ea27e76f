//! Pieces of request bodies written straight from the history: bytes as base64
//! without an intermediate string, and tool-call arguments borrowed when they are an
//! object already.

use serde_json::{Map, Value};

use crate::messages::ToolCallArgs;

/// Bytes written as a standard base64 JSON string, encoded while they are written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Base64<'a>(pub(crate) &'a [u8]);

impl serde::Serialize for Base64<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&base64::display::Base64Display::new(
            self.0,
            &base64::engine::general_purpose::STANDARD,
        ))
    }
}

/// Tool-call arguments as JSON, as [`ToolCallArgs::to_value`] gives them (an empty
/// object when they do not parse): an object is borrowed, JSON text is parsed (so
/// that the arguments are sent normalized, exactly as the `Value` body has them).
#[derive(Debug)]
pub(crate) enum CallArgs<'a> {
    Borrowed(&'a Map<String, Value>),
    Parsed(Value),
}

impl<'a> CallArgs<'a> {
    /// The arguments of a call.
    pub(crate) fn of(args: &'a ToolCallArgs) -> Self {
        match args {
            ToolCallArgs::Object(map) => CallArgs::Borrowed(map),
            other => CallArgs::Parsed(
                other
                    .to_value()
                    .unwrap_or_else(|_| Value::Object(Map::new())),
            ),
        }
    }
}

impl serde::Serialize for CallArgs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CallArgs::Borrowed(map) => map.serialize(s),
            CallArgs::Parsed(value) => value.serialize(s),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use serde_json::json;

    #[test]
    fn base64_is_written_as_the_engine_encodes() {
        for data in [&b""[..], b"a", b"ab", b"abc", &[0, 255, 254, 1, 2]] {
            let written = serde_json::to_string(&Base64(data)).unwrap();
            let expected = base64::engine::general_purpose::STANDARD.encode(data);
            assert_eq!(written, format!("\"{expected}\""));
        }
    }

    #[test]
    fn call_args_are_to_value() {
        for args in [
            ToolCallArgs::Object(Map::from_iter([("a".to_owned(), json!(1))])),
            ToolCallArgs::Json(r#"{"b": [1, 2.5]}"#.into()),
            ToolCallArgs::Json("  ".into()),
            ToolCallArgs::Json("{not json".into()),
        ] {
            let expected = args.to_value().unwrap_or_else(|_| json!({}));
            assert_eq!(serde_json::to_value(CallArgs::of(&args)).unwrap(), expected);
        }
    }
}
