//! Files in tool results and text files inlined into prompts, as PydanticAI frames them
//! for wire APIs whose tool results carry no files (or only some): a file is named in the
//! result by a short identifier (`See file 1a2b3c.`) and follows in a user turn
//! (`This is file 1a2b3c:` then the file); a text file is inlined between `BEGIN FILE`
//! and `END FILE` lines.

use serde_json::Value;

use crate::messages::{ToolReturnPart, UserContent};

/// Whether a JSON value is a multimodal item (`{"kind": "binary", …}` and the like).
pub(crate) fn is_media(v: &Value) -> bool {
    matches!(
        v.get("kind").and_then(Value::as_str),
        Some("binary" | "image-url" | "audio-url" | "video-url" | "document-url" | "uploaded-file")
    )
}

/// A tool's return split into the values (`None` when there are only media) and the
/// media items (`{"kind": "binary", …}` and the like).
pub(crate) fn split_media(content: &Value) -> (Option<Value>, Vec<UserContent>) {
    let items: Vec<&Value> = match content {
        Value::Array(items) if items.iter().any(is_media) => items.iter().collect(),
        v if is_media(v) => vec![v],
        other => return (Some(other.clone()), Vec::new()),
    };
    let mut values = Vec::new();
    let mut media = Vec::new();
    for item in items {
        match is_media(item)
            .then(|| serde_json::from_value::<UserContent>(item.clone()).ok())
            .flatten()
        {
            Some(m) => media.push(m),
            None => values.push(item.clone()),
        }
    }
    let values = match values.len() {
        0 => None,
        _ if !content.is_array() => values.pop(),
        _ => Some(Value::Array(values)),
    };
    (values, media)
}

/// The short identifier PydanticAI gives a file: its `identifier`, or the first six
/// hex digits of the SHA-1 of its bytes or URL.
pub(crate) fn media_id(item: &UserContent) -> String {
    let hash = |bytes: &[u8]| {
        sha1_smol::Sha1::from(bytes)
            .digest()
            .to_string()
            .chars()
            .take(6)
            .collect::<String>()
    };
    match item {
        UserContent::Binary(b) => b
            .extra
            .get("identifier")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| hash(&b.data)),
        UserContent::ImageUrl(u)
        | UserContent::AudioUrl(u)
        | UserContent::VideoUrl(u)
        | UserContent::DocumentUrl(u) => u
            .extra
            .get("identifier")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| hash(u.url.as_bytes())),
        UserContent::UploadedFile(f) => hash(f.file_id.as_bytes()),
        _ => String::new(),
    }
}

/// A tool's return for a text-only tool channel: the text the model is shown (each file
/// replaced by `See file <id>.`, items one per line) and the files, with their
/// identifiers, to send in a user turn after it. An errored return is its wrapped error
/// alone.
pub(crate) fn text_and_files(part: &ToolReturnPart) -> (String, Vec<(String, UserContent)>) {
    if part.is_error() {
        return (part.model_response_str(), Vec::new());
    }
    let items: Vec<&Value> = match &part.content {
        Value::Array(items) if items.iter().any(is_media) => items.iter().collect(),
        v if is_media(v) => vec![v],
        _ => return (part.model_response_str(), Vec::new()),
    };
    let mut lines = Vec::with_capacity(items.len());
    let mut files = Vec::new();
    for item in items {
        let media = is_media(item)
            .then(|| serde_json::from_value::<UserContent>(item.clone()).ok())
            .flatten();
        match (media, item) {
            (Some(m), _) => {
                let id = media_id(&m);
                lines.push(format!("See file {id}."));
                files.push((id, m));
            }
            (None, Value::String(s)) => lines.push(s.clone()),
            (None, other) => lines.push(other.to_string()),
        }
    }
    (lines.join("\n"), files)
}

/// Whether a media type is text (`text/*`, JSON, XML, YAML, TOML and their structured
/// suffixes): such files are inlined into the prompt as text.
pub(crate) fn is_text_like(media_type: &str) -> bool {
    let m = media_type.split(';').next().unwrap_or_default().trim();
    m.starts_with("text/")
        || m == "application/json"
        || m.ends_with("+json")
        || m == "application/xml"
        || m.ends_with("+xml")
        || m == "application/x-yaml"
        || m == "application/yaml"
        || m == "application/toml"
}

/// A text file inlined into a prompt, between delimiters naming it.
pub(crate) fn inlined_text_file(text: &str, media_type: &str, id: &str) -> String {
    format!(
        "-----BEGIN FILE id=\"{id}\" type=\"{media_type}\"-----\n{text}\n-----END FILE id=\"{id}\"-----"
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn files_are_named_in_the_text_and_returned_apart() {
        let part = ToolReturnPart::new(
            "get",
            json!(["Here:", {"kind": "image-url", "url": "https://x/a.png"}, {"n": 1}]),
            "c1",
        );
        let (text, files) = text_and_files(&part);
        let id = media_id(&files.first().unwrap().1);
        assert_eq!(text, format!("Here:\nSee file {id}.\n{{\"n\":1}}"));
        assert_eq!(files.len(), 1);
        let plain = ToolReturnPart::new("get", json!({"a": 1}), "c1");
        assert_eq!(
            text_and_files(&plain),
            (r#"{"a":1}"#.to_owned(), Vec::new())
        );
        assert!(is_text_like("text/plain; charset=utf-8"));
        assert!(is_text_like("application/ld+json"));
        assert!(!is_text_like("application/pdf"));
        assert_eq!(
            inlined_text_file("hi", "text/plain", "abc123"),
            "-----BEGIN FILE id=\"abc123\" type=\"text/plain\"-----\nhi\n-----END FILE id=\"abc123\"-----"
        );
    }
}
