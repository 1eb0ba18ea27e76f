//! Models: one file per wire API, plus the test, function and fallback models.

pub mod anthropic;
#[cfg(feature = "bedrock")]
pub mod bedrock;
pub mod fallback;
pub mod function;
pub mod gemini;
pub mod openai;
pub mod test;

/// The count in `field` of a token-counting answer from `endpoint`.
pub(crate) fn token_count(body: &[u8], endpoint: &str, field: &str) -> crate::Result<u64> {
    let value: serde_json::Value = serde_json::from_slice(body)?;
    value
        .get(field)
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| {
            crate::Error::unexpected_body(format!("{endpoint} answer without `{field}`"), body)
        })
}
