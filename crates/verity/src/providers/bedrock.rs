//! AWS Bedrock, through the official AWS SDK: the standard credential chain (environment,
//! profile, SSO, instance role), explicit keys, a named profile, a pre-built client, and
//! an endpoint override (VPC endpoints, tests). SigV4 signing, retries and the
//! event-stream framing are the SDK's.
//!
//! ```no_run
//! # async fn demo() -> verity::Result<()> {
//! use verity::providers::bedrock::BedrockProvider;
//! let default_chain = BedrockProvider::from_env().await?;
//! let explicit = BedrockProvider::builder()
//!     .region("us-east-1")
//!     .credentials("AKIA...", "secret", None)
//!     .build()
//!     .await?;
//! # Ok(()) }
//! ```

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_credential_types::Credentials;
use aws_sdk_bedrockruntime::Client;
use secrecy::{ExposeSecret, SecretString};

use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types as bt;
use bytes::Bytes;
use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::providers::transport::InvokeTransport;

/// Where Bedrock requests go, and with which credentials.
#[derive(Clone)]
pub struct BedrockProvider {
    client: Client,
}

impl std::fmt::Debug for BedrockProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BedrockProvider")
            .field("region", &self.client.config().region())
            .finish_non_exhaustive()
    }
}

impl BedrockProvider {
    /// The standard AWS configuration: environment variables, shared config and
    /// credentials files, SSO, container and instance roles.
    pub async fn from_env() -> Result<Self> {
        Self::builder().build().await
    }

    /// Set region, credentials, profile or endpoint explicitly.
    pub fn builder() -> BedrockProviderBuilder {
        BedrockProviderBuilder::default()
    }

    /// Use a client you configured yourself.
    pub fn from_client(client: Client) -> Self {
        BedrockProvider { client }
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// Builds a [`BedrockProvider`]; anything not set comes from the standard AWS
/// configuration.
#[derive(Default)]
pub struct BedrockProviderBuilder {
    region: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<SecretString>,
    session_token: Option<SecretString>,
    profile: Option<String>,
    endpoint_url: Option<String>,
    max_attempts: Option<u32>,
}

impl std::fmt::Debug for BedrockProviderBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BedrockProviderBuilder")
            .field("region", &self.region)
            .field(
                "credentials",
                &self.access_key_id.as_ref().map(|_| "[REDACTED]"),
            )
            .field("profile", &self.profile)
            .field("endpoint_url", &self.endpoint_url)
            .finish()
    }
}

impl BedrockProviderBuilder {
    /// The AWS region (otherwise `AWS_REGION` or the profile's).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Explicit keys, with an optional session token.
    pub fn credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        self.access_key_id = Some(access_key_id.into());
        self.secret_access_key = Some(SecretString::from(secret_access_key.into()));
        self.session_token = session_token.map(SecretString::from);
        self
    }

    /// A named profile from the shared AWS configuration.
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// Send requests here instead of the regional endpoint.
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Attempts per request in the SDK's standard retry mode (default 3; throttling
    /// and transient errors are retried).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// Load the configuration and build the provider.
    pub async fn build(self) -> Result<BedrockProvider> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(
            RetryConfig::standard().with_max_attempts(self.max_attempts.unwrap_or(3).max(1)),
        );
        if let Some(region) = self.region {
            loader = loader.region(aws_config::Region::new(region));
        }
        if let Some(profile) = self.profile {
            loader = loader.profile_name(profile);
        }
        if let (Some(key), Some(secret)) = (self.access_key_id, self.secret_access_key) {
            let token = self.session_token.map(|t| t.expose_secret().to_owned());
            let creds = Credentials::new(key, secret.expose_secret(), token, None, "verity");
            loader = loader.credentials_provider(creds);
        }
        if let Some(url) = self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        Ok(BedrockProvider {
            client: Client::new(&config),
        })
    }
}

/// The `anthropic_version` of Anthropic bodies sent to Bedrock.
pub const BEDROCK_ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

/// The base URL shown as `provider_url` of InvokeModel responses.
const BEDROCK_RUNTIME_URL: &str = "https://bedrock-runtime.amazonaws.com";

/// Bedrock's InvokeModel (and CountTokens) as a
/// [`Transport`](crate::providers::transport::Transport): the wire API's body
/// goes as it is, without `model` and `stream`, with Bedrock's `anthropic_version`.
#[derive(Debug, Clone)]
pub struct BedrockInvokeModel {
    provider: BedrockProvider,
}

impl BedrockInvokeModel {
    /// InvokeModel with Anthropic Messages bodies, on `provider`.
    pub fn anthropic(provider: BedrockProvider) -> Self {
        BedrockInvokeModel { provider }
    }

    fn body(body: Value) -> Result<Vec<u8>> {
        let mut body = body;
        if let Value::Object(map) = &mut body {
            map.remove("model");
            map.remove("stream");
            map.insert("anthropic_version".into(), json!(BEDROCK_ANTHROPIC_VERSION));
        }
        Ok(serde_json::to_vec(&body)?)
    }
}

impl InvokeTransport for BedrockInvokeModel {
    fn name(&self) -> &str {
        "bedrock"
    }

    fn public_base_url(&self) -> &str {
        BEDROCK_RUNTIME_URL
    }

    fn invoke<'a>(&'a self, model_name: &'a str, body: Value) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            let body = Self::body(body)?;
            let output = self
                .provider
                .client()
                .invoke_model()
                .model_id(model_name)
                .content_type("application/json")
                .accept("application/json")
                .body(Blob::new(body))
                .send()
                .await
                .map_err(|e| sdk_error(model_name, e))?;
            Ok(Bytes::copy_from_slice(output.body().as_ref()))
        })
    }

    fn count_tokens<'a>(&'a self, model_name: &'a str, body: Value) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let body = Self::body(body)?;
            let input = bt::InvokeModelTokensRequest::builder()
                .body(Blob::new(body))
                .build()
                .map_err(|e| Error::User(format!("invalid Bedrock request: {e}")))?;
            let output = self
                .provider
                .client()
                .count_tokens()
                .model_id(model_name)
                .input(bt::CountTokensInput::InvokeModel(input))
                .send()
                .await
                .map_err(|e| sdk_error(model_name, e))?;
            Ok(u64::try_from(output.input_tokens()).unwrap_or(0))
        })
    }
}

/// Turn an SDK error into Verity's: service errors keep status, code and message.
pub(crate) fn sdk_error<E, R>(model_id: &str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + StatusOf,
{
    if let SdkError::ServiceError(ctx) = &err {
        let e = ctx.err();
        let body = match (e.code(), e.message(), ctx.raw().body_text()) {
            (None, None, Some(raw)) => raw,
            (code, message, _) => json!({"code": code, "message": message}).to_string(),
        };
        return match ctx.raw().status_of() {
            Some(status) => Error::ModelHttp {
                status,
                model_name: model_id.to_owned(),
                body,
                retry_after: None,
            },
            // an exception event inside the stream
            None => Error::ModelApi {
                model_name: model_id.to_owned(),
                message: format!("error in event stream: {body}"),
            },
        };
    }
    Error::ModelApi {
        model_name: model_id.to_owned(),
        message: aws_sdk_bedrockruntime::error::DisplayErrorContext(&err).to_string(),
    }
}

/// The HTTP status and body of a raw SDK response, when it has them.
pub(crate) trait StatusOf {
    fn status_of(&self) -> Option<u16>;
    fn body_text(&self) -> Option<String>;
}

impl StatusOf for aws_smithy_runtime_api::http::Response {
    fn status_of(&self) -> Option<u16> {
        Some(self.status().as_u16())
    }
    fn body_text(&self) -> Option<String> {
        self.body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }
}

impl StatusOf for aws_smithy_types::event_stream::RawMessage {
    fn status_of(&self) -> Option<u16> {
        None
    }
    fn body_text(&self) -> Option<String> {
        match self {
            aws_smithy_types::event_stream::RawMessage::Decoded(m) => {
                Some(String::from_utf8_lossy(m.payload()).into_owned())
            }
            aws_smithy_types::event_stream::RawMessage::Invalid(bytes) => bytes
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}
