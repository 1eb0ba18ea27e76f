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

use crate::error::Result;

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
