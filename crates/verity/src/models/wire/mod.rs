//! What every wire API shares: serialized request fragments cached per model
//! ([`FragmentCache`]), the one-pass lenient reader of response objects
//! ([`lenient_struct!`](crate::models::wire::lenient_struct)), the think-tag splitter
//! ([`TagSplitter`]), files in tool results and inlined text files (`tool_files`), and
//! token-count answers.

mod borrowed;
mod inline_media;
mod lenient;
mod think_tags;
mod tool_files;

pub(crate) use borrowed::{Base64, CallArgs};
pub(crate) use inline_media::{download_files, inline_media, is_web_url};
pub(crate) use lenient::{Key, lenient_struct};
pub(crate) use think_tags::TagSplitter;
pub(crate) use tool_files::{
    inlined_text_file, is_media, is_text_like, media_id, split_media, text_and_files,
};

/// A request body as a JSON value, with the settings' `extra_body` merged in (objects key
/// by key): the reference form of every wire API's body.
pub(crate) fn body_value(
    request: impl serde::Serialize,
    settings: &crate::settings::ModelSettings,
) -> crate::Result<serde_json::Value> {
    let body = serde_json::to_value(request)?;
    Ok(match &settings.extra_body {
        Some(extra) => crate::settings::merge_json(body, extra),
        None => body,
    })
}

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

/// An error event inside a stream: an HTTP error when it names a status of 400 or more
/// (`status_code`, `code`, `status`, top level or under `error`), else an API error.
pub(crate) fn stream_error(model_name: &str, data: &str) -> crate::Error {
    let value: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
    let err = value.get("error").unwrap_or(&value);
    let status = ["status_code", "code", "status"]
        .iter()
        .find_map(|k| {
            let v = err.get(*k)?;
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (400..600).contains(s));
    match status {
        Some(status) => crate::Error::ModelHttp {
            status,
            model_name: model_name.to_owned(),
            body: data.to_owned(),
            retry_after: None,
        },
        None => crate::Error::ModelApi {
            model_name: model_name.to_owned(),
            message: format!("error in event stream: {data}"),
        },
    }
}

/// The error of a stream that ended before the response was complete (no finish
/// reason, no end event).
pub(crate) fn incomplete_stream(model_name: &str) -> crate::Error {
    crate::Error::ModelApi {
        model_name: model_name.to_owned(),
        message: "the event stream ended before the response was complete".into(),
    }
}

/// A count in a usage object: an integer, or a float the provider sent for one.
pub(crate) fn count(v: Option<&serde_json::Value>) -> Option<u64> {
    let v = v?;
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })
}

/// A piece of a request body serialized once: written out as it is.
#[derive(Debug, Clone)]
pub(crate) struct Fragment(std::sync::Arc<serde_json::value::RawValue>);

impl Fragment {
    /// The JSON text.
    pub(crate) fn get(&self) -> &str {
        self.0.get()
    }
}

impl serde::Serialize for Fragment {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Pieces of request bodies that depend only on a definition and the model's profile
/// (tool definitions, output schemas). Without it every request clones each schema,
/// runs the profile's schema transform on it, serializes and drops it; with it a
/// definition seen before costs a comparison. Bounded: past [`FragmentCache::CAPACITY`]
/// definitions (tools that `prepare` hooks change per run) new ones are built each time.
pub(crate) struct FragmentCache<K> {
    entries: std::sync::RwLock<Vec<(K, Fragment)>>,
}

impl<K> Default for FragmentCache<K> {
    fn default() -> Self {
        FragmentCache {
            entries: std::sync::RwLock::new(Vec::new()),
        }
    }
}

impl<K> std::fmt::Debug for FragmentCache<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.entries.read().map_or(0, |e| e.len());
        f.debug_struct("FragmentCache")
            .field("entries", &len)
            .finish()
    }
}

impl<K: PartialEq + Clone> FragmentCache<K> {
    /// Most definitions kept.
    pub(crate) const CAPACITY: usize = 64;

    /// The serialized form of `key`'s wire JSON, built by `build` the first time.
    pub(crate) fn get(
        &self,
        key: &K,
        build: impl FnOnce(&K) -> serde_json::Value,
    ) -> crate::Result<Fragment> {
        let read = self
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, hit)) = read.iter().find(|(k, _)| k == key) {
            return Ok(hit.clone());
        }
        drop(read);
        let fragment = Fragment(std::sync::Arc::from(serde_json::value::to_raw_value(
            &build(key),
        )?));
        let mut write = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if write.len() < Self::CAPACITY && !write.iter().any(|(k, _)| k == key) {
            write.push((key.clone(), fragment.clone()));
        }
        Ok(fragment)
    }
}

/// The serialized request pieces of one model and profile: tool definitions and
/// output schemas as the model's wire API writes them.
#[derive(Debug, Default)]
pub(crate) struct Fragments {
    pub(crate) tools: FragmentCache<crate::request::ToolDefinition>,
    pub(crate) output_schemas: FragmentCache<crate::request::OutputObjectDefinition>,
}

/// A tool definition in a body: cached, or built for this request (with a cache
/// breakpoint).
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub(crate) enum WireTool {
    Cached(Fragment),
    Built(serde_json::Value),
}

/// A whole response stamped with who served it (the provider's name and public URL),
/// and with the requested model's name when the provider gave none.
pub(crate) fn served_response(
    mut response: crate::messages::ModelResponse,
    provider_name: &str,
    public_url: &str,
    model_name: &str,
) -> crate::messages::ModelResponse {
    response.provider_name = Some(provider_name.to_owned());
    response.provider_url = Some(public_url.to_owned());
    if response.model_name.is_none() {
        response.model_name = Some(model_name.to_owned());
    }
    response
}

/// The metadata a streamed response ends with: who served it.
pub(crate) fn served_metadata(
    provider_name: &str,
    public_url: &str,
) -> crate::stream::ResponseMetadata {
    crate::stream::ResponseMetadata {
        provider_name: Some(provider_name.to_owned()),
        provider_url: Some(public_url.to_owned()),
        ..Default::default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fragments_are_built_once_per_definition_and_bounded() {
        let cache = FragmentCache::<u32>::default();
        let mut builds = 0;
        for _ in 0..3 {
            let f = cache
                .get(&7, |k| {
                    builds += 1;
                    json!({"n": k})
                })
                .unwrap();
            assert_eq!(serde_json::to_string(&f).unwrap(), r#"{"n":7}"#);
        }
        assert_eq!(builds, 1);
        let cap = u32::try_from(FragmentCache::<u32>::CAPACITY).unwrap();
        for k in 0..cap * 2 {
            cache.get(&k, |k| json!(k)).unwrap();
        }
        let len = cache.entries.read().unwrap().len();
        assert_eq!(len, FragmentCache::<u32>::CAPACITY);
        // past the bound a definition is still answered, only not kept
        let f = cache.get(&(cap * 3), |k| json!(k)).unwrap();
        assert_eq!(serde_json::to_string(&f).unwrap(), (cap * 3).to_string());
    }
}
