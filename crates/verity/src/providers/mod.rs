//! Providers: where a model's requests go and how they are authenticated. One file per
//! endpoint; each gives a builder preset (base URL, key variable, auth style, profile)
//! and every builder accepts `base_url`, `api_key` and a caller-built `reqwest::Client`.
//!
//! ```
//! use verity::providers::openai::OpenAIProvider;
//! // any OpenAI-compatible server
//! let provider = OpenAIProvider::builder()
//!     .base_url("http://localhost:11434/v1")
//!     .build()
//!     .unwrap();
//! assert_eq!(provider.base_url(), "http://localhost:11434/v1");
//! ```

pub mod anthropic;
pub mod azure;
#[cfg(feature = "bedrock")]
pub mod bedrock;
pub mod cerebras;
pub mod cohere;
pub mod deepseek;
pub mod fireworks;
pub mod github;
pub mod google_gla;
pub mod google_vertex;
pub mod grok;
pub mod groq;
pub mod huggingface;
pub mod mistral;
pub mod ollama;
pub mod openai;
pub mod openai_compatible;
pub mod openrouter;
pub mod perplexity;
pub mod together;
pub mod transport;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};
use crate::http::{HttpClient, RetryConfig, header_map};
use crate::model::ModelProfile;

/// How a provider authenticates.
#[derive(Clone)]
#[non_exhaustive]
pub enum Auth {
    /// No credentials.
    None,
    /// `Authorization: Bearer <key>`.
    Bearer(SecretString),
    /// The key in a header of its own (`api-key`, `x-api-key`, …).
    Header(&'static str, SecretString),
    /// Credentials asked for a header value on every request (tokens that expire,
    /// such as Google's OAuth tokens for Vertex AI).
    Dynamic(Arc<dyn Credentials>),
}

/// Credentials that give a fresh header value for each request; the provider adds it
/// (`Authorization: Bearer <token>` by default). Implementations cache and refresh
/// tokens themselves.
pub trait Credentials: Send + Sync + 'static {
    /// The header the value goes in.
    fn header_name(&self) -> &'static str {
        "authorization"
    }

    /// The header value for the next request to `model_name` (named in errors).
    fn header_value<'a>(&'a self, model_name: &'a str) -> BoxFuture<'a, Result<SecretString>>;
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Bearer(_) => f.write_str("Bearer([REDACTED])"),
            Auth::Header(name, _) => write!(f, "Header({name}, [REDACTED])"),
            Auth::Dynamic(c) => write!(f, "Dynamic({}: [REDACTED])", c.header_name()),
        }
    }
}

/// How the key is sent, before it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthStyle {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// A header of its own.
    Header(&'static str),
}

/// A profile function: facts about a model family from the model's name.
pub type ProfileFn = fn(&str) -> ModelProfile;

/// The fixed facts of an endpoint that a builder starts from.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    /// The provider's name (`openai`, `deepseek`, …).
    pub name: &'static str,
    /// The default base URL, if the endpoint has one.
    pub default_base_url: Option<&'static str>,
    /// Environment variables holding the key, tried in order.
    pub key_env: &'static [&'static str],
    /// Environment variable holding a base URL that replaces the default.
    pub base_url_env: Option<&'static str>,
    /// How the key is sent.
    pub auth_style: AuthStyle,
    /// Whether a key is needed (when the default base URL is used).
    pub key_required: bool,
    /// The profile of a model on this endpoint.
    pub profile: ProfileFn,
}

/// An endpoint, resolved: base URL, credentials, headers, HTTP client, profiles.
/// Cheap to clone. Credentials never show in `Debug` or errors.
#[derive(Clone)]
pub struct Provider {
    inner: Arc<ProviderInner>,
}

#[derive(Clone)]
struct ProviderInner {
    name: String,
    base_url: String,
    /// `base_url` redacted, made once.
    public_base_url: String,
    auth: Auth,
    headers: HeaderMap,
    query: Vec<(String, String)>,
    deployment_path: bool,
    client: HttpClient,
    profile: ProfileFn,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.inner.name)
            .field("base_url", &self.public_base_url())
            .field("auth", &self.inner.auth)
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// The provider's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The base URL without credentials: user-info and query values are redacted. This
    /// is what shows in `Debug` output and in responses' `provider_url`.
    pub fn public_base_url(&self) -> &str {
        &self.inner.public_base_url
    }

    /// The HTTP client.
    pub fn client(&self) -> &HttpClient {
        &self.inner.client
    }

    /// The profile of `model_name` on this provider.
    pub fn model_profile(&self, model_name: &str) -> ModelProfile {
        (self.inner.profile)(model_name)
    }

    /// The URL of `path` (e.g. `/chat/completions`) for `model_name`.
    pub fn url(&self, path: &str, model_name: &str) -> String {
        let base = self.inner.base_url.trim_end_matches('/');
        let mut url = if self.inner.deployment_path {
            format!("{base}/openai/deployments/{model_name}{path}")
        } else {
            format!("{base}{path}")
        };
        for (i, (k, v)) in self.inner.query.iter().enumerate() {
            url.push(if i == 0 && !url.contains('?') {
                '?'
            } else {
                '&'
            });
            url.push_str(k);
            url.push('=');
            url.push_str(v);
        }
        url
    }

    /// A JSON POST of `body` to `path` for `model_name`, with the provider's headers and
    /// credentials, the settings' extra headers and the settings' timeout.
    pub fn json_request(
        &self,
        path: &str,
        model_name: &str,
        body: &impl serde::Serialize,
        settings: &crate::settings::ModelSettings,
    ) -> Result<crate::http::HttpRequest> {
        let mut headers = self.headers(&settings.extra_headers)?;
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static("application/json"),
        );
        Ok(crate::http::HttpRequest {
            url: self.url(path, model_name),
            headers,
            body: bytes::Bytes::from(serde_json::to_vec(body)?),
            timeout: settings.timeout,
        })
    }

    /// Add the header of [`Auth::Dynamic`] credentials to `request` (a fresh token);
    /// other credentials are already in the provider's headers.
    pub async fn authorize(
        &self,
        request: &mut crate::http::HttpRequest,
        model_name: &str,
    ) -> Result<()> {
        if let Auth::Dynamic(credentials) = &self.inner.auth {
            let value = credentials.header_value(model_name).await?;
            let headers = header_map([(credentials.header_name(), value.expose_secret())])?;
            request.headers.extend(headers);
        }
        Ok(())
    }

    /// The same endpoint authenticated by `credentials` on every request instead of
    /// its key.
    pub fn with_credentials(&self, credentials: Arc<dyn Credentials>) -> Provider {
        let mut inner = (*self.inner).clone();
        match &inner.auth {
            Auth::Bearer(_) => {
                inner.headers.remove(reqwest::header::AUTHORIZATION);
            }
            Auth::Header(name, _) => {
                inner.headers.remove(*name);
            }
            Auth::None | Auth::Dynamic(_) => {}
        }
        inner.auth = Auth::Dynamic(credentials);
        Provider {
            inner: Arc::new(inner),
        }
    }

    /// Headers for a request: the provider's, its credentials, then `extra`.
    pub fn headers(&self, extra: &std::collections::BTreeMap<String, String>) -> Result<HeaderMap> {
        let mut headers = self.inner.headers.clone();
        if !extra.is_empty() {
            headers.extend(header_map(
                extra.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )?);
        }
        Ok(headers)
    }
}

/// The provider's own headers with its credentials, built once.
fn headers_with_auth(mut headers: HeaderMap, auth: &Auth) -> Result<HeaderMap> {
    let auth = match auth {
        Auth::None => HeaderMap::new(),
        Auth::Bearer(key) => {
            let value = format!("Bearer {}", key.expose_secret());
            header_map([("authorization", value.as_str())])?
        }
        Auth::Header(name, key) => header_map([(*name, key.expose_secret())])?,
        // added per request by `Provider::authorize`
        Auth::Dynamic(_) => HeaderMap::new(),
    };
    headers.extend(auth);
    Ok(headers)
}

/// A URL with user-info and query values replaced by `[REDACTED]`.
pub fn redact_url(url: &str) -> String {
    let (without_query, query) = match url.split_once('?') {
        Some((u, q)) => (u, Some(q)),
        None => (url, None),
    };
    let mut out = match without_query.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host)) if !host.contains('/') || rest.find('@') < rest.find('/') => {
                format!("{scheme}://[REDACTED]@{host}")
            }
            _ => without_query.to_owned(),
        },
        None => without_query.to_owned(),
    };
    if let Some(q) = query {
        let redacted: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) => format!("{k}=[REDACTED]"),
                None => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&redacted.join("&"));
    }
    out
}

/// What a [`ProviderBuilder`] builds: [`Provider`] itself, or the provider type of a
/// preset (`OpenAIProvider`, `AnthropicProvider`, …), which wraps one.
pub trait FromProvider: Sized {
    /// Wrap a resolved provider.
    #[doc(hidden)]
    fn from_provider(provider: Provider) -> Self;
}

impl FromProvider for Provider {
    fn from_provider(provider: Provider) -> Self {
        provider
    }
}

/// Builds a provider from a preset: `P` is what [`build`](Self::build) returns (the
/// preset's own provider type, or [`Provider`]).
#[derive(Debug)]
pub struct ProviderBuilder<P = Provider> {
    target: std::marker::PhantomData<fn() -> P>,
    preset: Preset,
    name: Option<String>,
    base_url: Option<String>,
    api_key: Option<SecretString>,
    headers: Vec<(String, String)>,
    query: Vec<(String, String)>,
    deployment_path: bool,
    client: Option<reqwest::Client>,
    retry: RetryConfig,
    max_body_bytes: Option<usize>,
    stream_idle_timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    profile: Option<ProfileFn>,
    /// `Auth::Dynamic` credentials, replacing the key.
    dynamic_auth: Option<Auth>,
    download_policy: Option<crate::http::download::DownloadPolicy>,
}

impl ProviderBuilder<Provider> {
    /// A builder starting from `preset`.
    pub fn new(preset: Preset) -> Self {
        ProviderBuilder {
            target: std::marker::PhantomData,
            preset,
            name: None,
            base_url: None,
            api_key: None,
            headers: Vec::new(),
            query: Vec::new(),
            deployment_path: false,
            client: None,
            retry: RetryConfig::default(),
            max_body_bytes: None,
            stream_idle_timeout: None,
            connect_timeout: None,
            profile: None,
            dynamic_auth: None,
            download_policy: None,
        }
    }
}

impl<P: FromProvider> ProviderBuilder<P> {
    /// The same builder, building another provider type.
    pub fn build_as<Q: FromProvider>(self) -> ProviderBuilder<Q> {
        ProviderBuilder {
            target: std::marker::PhantomData,
            preset: self.preset,
            name: self.name,
            base_url: self.base_url,
            api_key: self.api_key,
            headers: self.headers,
            query: self.query,
            deployment_path: self.deployment_path,
            client: self.client,
            retry: self.retry,
            max_body_bytes: self.max_body_bytes,
            stream_idle_timeout: self.stream_idle_timeout,
            connect_timeout: self.connect_timeout,
            profile: self.profile,
            dynamic_auth: self.dynamic_auth,
            download_policy: self.download_policy,
        }
    }

    /// Rename the provider (shown in responses as `provider_name`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Send requests here instead of the default base URL.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Use this key instead of the one in the environment.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(SecretString::from(key.into()));
        self
    }

    /// Send this header with every request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Add this query parameter to every URL.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Put the model name in the path as an Azure deployment.
    pub fn deployment_path(mut self, on: bool) -> Self {
        self.deployment_path = on;
        self
    }

    /// Limits of the media this provider's models download to send inline (private and
    /// loopback hosts are refused unless the policy allows them).
    pub fn download_policy(mut self, policy: crate::http::download::DownloadPolicy) -> Self {
        self.download_policy = Some(policy);
        self
    }

    /// Use a `reqwest::Client` you built.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Retry policy (default: 2 retries with exponential backoff and jitter).
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// How many retries after the first attempt.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.retry.max_retries = n;
        self
    }

    /// Limit on a response body.
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = Some(max);
        self
    }

    /// End a stream that sends nothing for this long.
    pub fn stream_idle_timeout(mut self, timeout: Duration) -> Self {
        self.stream_idle_timeout = Some(timeout);
        self
    }

    /// Timeout for opening a connection (default 10 s; ignored with a caller-built client).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Authenticate every request with a fresh header value from `credentials`
    /// (instead of a key).
    pub fn credentials(mut self, credentials: Arc<dyn Credentials>) -> Self {
        self.dynamic_auth = Some(Auth::Dynamic(credentials));
        self
    }

    /// Replace the profile function.
    pub fn profile(mut self, profile: ProfileFn) -> Self {
        self.profile = Some(profile);
        self
    }

    /// Resolve the base URL and key (from the builder, then the environment) and build.
    pub fn build(self) -> Result<P> {
        self.resolve().map(P::from_provider)
    }

    fn resolve(self) -> Result<Provider> {
        let p = self.preset;
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let custom_base = self
            .base_url
            .clone()
            .or_else(|| p.base_url_env.and_then(env));
        let base_url = custom_base
            .clone()
            .or_else(|| p.default_base_url.map(str::to_owned))
            .ok_or_else(|| Error::User(format!("provider `{}` needs a base URL", p.name)))?;
        let key = self.api_key.or_else(|| {
            p.key_env
                .iter()
                .find_map(|v| env(v))
                .map(SecretString::from)
        });
        let auth = match (self.dynamic_auth, key, p.auth_style) {
            (Some(dynamic), _, _) => dynamic,
            (None, Some(k), AuthStyle::Bearer) => Auth::Bearer(k),
            (None, Some(k), AuthStyle::Header(h)) => Auth::Header(h, k),
            (None, None, _) if p.key_required && custom_base.is_none() => {
                return Err(Error::User(format!(
                    "provider `{}` needs an API key: pass `api_key` or set {}",
                    p.name,
                    p.key_env.join(" or ")
                )));
            }
            (None, None, _) => Auth::None,
        };
        let headers = header_map(self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        let headers = headers_with_auth(headers, &auth)?;
        let mut client = match (self.client, self.connect_timeout) {
            (Some(c), _) => HttpClient::from_reqwest(c),
            (None, Some(t)) => HttpClient::with_connect_timeout(t)?,
            (None, None) => HttpClient::new()?,
        }
        .with_retry(self.retry);
        if let Some(max) = self.max_body_bytes {
            client = client.with_max_body_bytes(max);
        }
        if let Some(t) = self.stream_idle_timeout {
            client = client.with_stream_idle_timeout(t);
        }
        if let Some(policy) = self.download_policy {
            client = client.with_download_policy(policy);
        }
        Ok(Provider {
            inner: Arc::new(ProviderInner {
                name: self.name.unwrap_or_else(|| p.name.to_owned()),
                public_base_url: redact_url(&base_url),
                base_url,
                auth,
                headers,
                query: self.query,
                deployment_path: self.deployment_path,
                client,
                profile: self.profile.unwrap_or(p.profile),
            }),
        })
    }
}

/// Declare a provider type: a newtype around the [`Provider`] it resolves to, which
/// models take (`impl Into<Provider>`) and which derefs to it.
macro_rules! provider_type {
    ($(#[$doc:meta])* $ty:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $ty($crate::providers::Provider);

        impl $ty {
            /// The resolved provider.
            pub fn provider(&self) -> &$crate::providers::Provider {
                &self.0
            }
        }

        impl $crate::providers::FromProvider for $ty {
            fn from_provider(provider: $crate::providers::Provider) -> Self {
                $ty(provider)
            }
        }

        impl From<$ty> for $crate::providers::Provider {
            fn from(p: $ty) -> Self {
                p.0
            }
        }

        impl std::ops::Deref for $ty {
            type Target = $crate::providers::Provider;
            fn deref(&self) -> &$crate::providers::Provider {
                &self.0
            }
        }
    };
}
pub(crate) use provider_type;

/// Declare a provider made from a preset: its type (see `provider_type!`), `builder()`
/// (the preset, then the environment, then what the caller sets) and `from_env()` (the
/// builder as it is). An optional `configure` function adds what the endpoint reads
/// from the environment beyond its key and base URL, or headers it always sends.
macro_rules! provider_preset {
    ($(#[$doc:meta])* $ty:ident, $preset:expr) => {
        $crate::providers::provider_preset!($(#[$doc])* $ty, $preset, |b| b);
    };
    ($(#[$doc:meta])* $ty:ident, $preset:expr, $configure:expr) => {
        $crate::providers::provider_type!($(#[$doc])* $ty);

        impl $ty {
            /// The preset this provider starts from.
            pub const PRESET: $crate::providers::Preset = $preset;

            /// A builder starting from this provider's preset and environment.
            pub fn builder() -> $crate::providers::ProviderBuilder<$ty> {
                let configure: fn(
                    $crate::providers::ProviderBuilder<$ty>,
                ) -> $crate::providers::ProviderBuilder<$ty> = $configure;
                configure($crate::providers::ProviderBuilder::new(Self::PRESET).build_as())
            }

            /// The provider configured from the environment alone (its key, base URL
            /// and the endpoint's other variables).
            pub fn from_env() -> $crate::Result<Self> {
                Self::builder().build()
            }
        }
    };
}
pub(crate) use provider_preset;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_show_in_debug() {
        let p = openai::OpenAIProvider::builder()
            .api_key("sk-very-secret-key")
            .build()
            .unwrap();
        let debug = format!("{p:?}");
        assert!(!debug.contains("very-secret"), "{debug}");
        assert!(debug.contains("REDACTED"));
        let h = p.headers(&Default::default()).unwrap();
        assert!(h.get("authorization").unwrap().is_sensitive());
        assert!(!format!("{h:?}").contains("very-secret"));
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("https://u:p@host/v1?key=abc&x=1"),
            "https://[REDACTED]@host/v1?key=[REDACTED]&x=[REDACTED]"
        );
        assert_eq!(redact_url("http://localhost:1/v1"), "http://localhost:1/v1");
    }

    #[test]
    fn missing_key_is_a_user_error_but_custom_base_urls_need_none() {
        let preset = Preset {
            key_env: &["VERITY_TEST_UNSET_KEY"],
            base_url_env: None,
            ..openai::OpenAIProvider::PRESET
        };
        assert!(matches!(
            ProviderBuilder::new(preset).build(),
            Err(Error::User(_))
        ));
        let p = ProviderBuilder::new(preset)
            .base_url("http://localhost:1/v1")
            .build()
            .unwrap();
        assert_eq!(
            p.url("/chat/completions", "m"),
            "http://localhost:1/v1/chat/completions"
        );
    }
}
