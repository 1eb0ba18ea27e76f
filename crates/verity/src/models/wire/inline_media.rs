//! Media URLs a provider cannot fetch, replaced by their bytes before a request is built
//! (Bedrock's https URLs, the Gemini API's web URLs, text documents for Anthropic),
//! downloaded under the provider's [`DownloadPolicy`].

use std::borrow::Cow;
use std::collections::HashMap;

use crate::error::Result;
use crate::http::download::{DownloadPolicy, Downloaded, download};
use crate::messages::{
    BinaryContent, FileUrl, ModelMessage, ModelRequestPart, UserContent, UserPrompt,
};

/// Download `files` (each once) under `policy`, by URL: what a wire API sends inline
/// because its API does not take the URL. A document keeps its URL as its file name.
pub(crate) async fn download_files(
    files: Vec<(&FileUrl, bool)>,
    policy: &DownloadPolicy,
) -> Result<HashMap<String, BinaryContent>> {
    let mut out = HashMap::new();
    for (file, is_document) in files {
        if out.contains_key(&file.url) {
            continue;
        }
        let got = download(&file.url, policy).await?;
        let media_type = file
            .media_type()
            .or(got.media_type)
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        let mut binary = BinaryContent::new(got.data.to_vec(), media_type);
        if is_document {
            binary.filename = Some(file.url.clone());
        }
        out.insert(file.url.clone(), binary);
    }
    Ok(out)
}

/// The URL item of a user prompt, if it is one.
fn url_of(item: &UserContent) -> Option<&FileUrl> {
    match item {
        UserContent::ImageUrl(u)
        | UserContent::AudioUrl(u)
        | UserContent::VideoUrl(u)
        | UserContent::DocumentUrl(u) => Some(u),
        _ => None,
    }
}

/// Whether a URL is fetched over the web (`http`/`https`).
pub(crate) fn is_web_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// `messages` with every user-prompt URL item that `needs_inline` picks replaced by the
/// downloaded bytes (each URL fetched once); borrowed as they are when none is picked.
pub(crate) async fn inline_media<'a>(
    messages: &'a [ModelMessage],
    needs_inline: impl Fn(&UserContent) -> bool,
    policy: &DownloadPolicy,
) -> Result<Cow<'a, [ModelMessage]>> {
    let items = || {
        messages
            .iter()
            .filter_map(ModelMessage::as_request)
            .flat_map(|r| r.parts.iter())
            .filter_map(|p| match p {
                ModelRequestPart::UserPrompt(u) => match &u.content {
                    UserPrompt::Parts(items) => Some(items.iter()),
                    UserPrompt::Text(_) => None,
                },
                _ => None,
            })
            .flatten()
    };
    let wanted: Vec<&FileUrl> = items()
        .filter(|item| needs_inline(item))
        .filter_map(url_of)
        .collect();
    if wanted.is_empty() {
        return Ok(Cow::Borrowed(messages));
    }
    let mut fetched: HashMap<&str, Downloaded> = HashMap::new();
    for url in wanted {
        if !fetched.contains_key(url.url.as_str()) {
            fetched.insert(&url.url, download(&url.url, policy).await?);
        }
    }
    let mut out = messages.to_vec();
    for message in &mut out {
        let ModelMessage::Request(request) = message else {
            continue;
        };
        for part in &mut request.parts {
            let ModelRequestPart::UserPrompt(prompt) = part else {
                continue;
            };
            let UserPrompt::Parts(items) = &mut prompt.content else {
                continue;
            };
            for item in items.iter_mut() {
                if !needs_inline(item) {
                    continue;
                }
                let Some(url) = url_of(item) else { continue };
                let Some(got) = fetched.get(url.url.as_str()) else {
                    continue;
                };
                let media_type = url
                    .media_type()
                    .or_else(|| got.media_type.clone())
                    .unwrap_or_else(|| "application/octet-stream".to_owned());
                let mut binary = BinaryContent::new(got.data.to_vec(), media_type);
                // provider metadata (e.g. a video's fps and offsets) stays with the bytes
                if let Some(meta) = url.extra.get("vendor_metadata") {
                    binary.extra.insert("vendor_metadata".into(), meta.clone());
                }
                if matches!(item, UserContent::DocumentUrl(_)) {
                    binary.filename = url
                        .url
                        .rsplit('/')
                        .next()
                        .filter(|name| !name.is_empty())
                        .map(str::to_owned);
                }
                *item = UserContent::Binary(binary);
            }
        }
    }
    Ok(Cow::Owned(out))
}
