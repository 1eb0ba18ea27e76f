//! Fetching media a provider cannot fetch itself (a document or audio URL sent inline as
//! bytes), without letting a URL from a prompt reach into the machine's own network.
//!
//! A download refuses, unless its [`DownloadPolicy`] allows private addresses: hosts
//! that resolve to loopback, private (RFC 1918, unique-local), link-local,
//! shared-address (CGNAT), unspecified, broadcast or multicast addresses, and the cloud
//! metadata endpoints (`169.254.169.254`, `fd00:ec2::254`). Every address a host resolves
//! to is checked, and the connection goes to the checked address (no second lookup a
//! rebinding DNS server could answer differently). Redirects are followed by hand, each
//! hop checked the same way. The body is capped, and the whole download has a timeout.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use crate::error::{Error, Result};

/// Limits of media downloads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DownloadPolicy {
    /// Whether hosts on private, loopback and link-local addresses may be fetched (off by
    /// default; cloud metadata endpoints are refused even then).
    pub allow_private: bool,
    /// The most bytes a download may have.
    pub max_bytes: usize,
    /// The longest a download (all redirects included) may take.
    pub timeout: Duration,
    /// The most redirects followed.
    pub max_redirects: usize,
}

impl Default for DownloadPolicy {
    fn default() -> Self {
        DownloadPolicy {
            allow_private: false,
            max_bytes: 20 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            max_redirects: 5,
        }
    }
}

impl DownloadPolicy {
    /// Allow (or refuse) private, loopback and link-local hosts.
    pub fn allow_private(mut self, allow: bool) -> Self {
        self.allow_private = allow;
        self
    }

    /// Cap downloads at this many bytes.
    pub fn max_bytes(mut self, max: usize) -> Self {
        self.max_bytes = max;
        self
    }

    /// Give a download at most this long.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// What a download fetched.
#[derive(Debug, Clone)]
pub struct Downloaded {
    /// The body.
    pub data: Bytes,
    /// The media type the server gave (without parameters).
    pub media_type: Option<String>,
}

/// Why an address may not be fetched, if it may not.
pub fn refused_address(ip: IpAddr, policy: &DownloadPolicy) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    if is_metadata(ip) {
        return Some("a cloud metadata endpoint");
    }
    if policy.allow_private {
        return None;
    }
    match ip {
        IpAddr::V4(v4) => v4_class(v4),
        IpAddr::V6(v6) => v6_class(v6),
    }
}

fn is_metadata(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4 == Ipv4Addr::new(169, 254, 169, 254),
        IpAddr::V6(v6) => v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
    }
}

fn v4_class(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (CGNAT) address")
    } else if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || a == 0 {
        Some("an unroutable address")
    } else {
        None
    }
}

fn v6_class(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments().first().copied().unwrap_or_default();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a private (unique-local) address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if ip.is_unspecified() || ip.is_multicast() {
        Some("an unroutable address")
    } else {
        None
    }
}

fn refused(url: &str, why: impl std::fmt::Display) -> Error {
    Error::User(format!("refusing to download {url}: {why}"))
}

/// The address to connect to for `url`: every address its host resolves to must be
/// allowed; the first is used.
async fn checked_address(url: &reqwest::Url, policy: &DownloadPolicy) -> Result<SocketAddr> {
    let shown = url.as_str();
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refused(
            shown,
            format!("the scheme `{}` is not fetched", url.scheme()),
        ));
    }
    let host = url
        .host_str()
        .ok_or_else(|| refused(shown, "it has no host"))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| refused(shown, "it has no port"))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| refused(shown, format!("its host does not resolve: {e}")))?
            .collect(),
    };
    if addresses.is_empty() {
        return Err(refused(shown, "its host resolves to no address"));
    }
    for address in &addresses {
        if let Some(why) = refused_address(address.ip(), policy) {
            return Err(refused(
                shown,
                format!("{host} resolves to {why} ({})", address.ip()),
            ));
        }
    }
    addresses
        .first()
        .copied()
        .ok_or_else(|| refused(shown, "its host resolves to no address"))
}

/// Fetch `url` under `policy`.
pub async fn download(url: &str, policy: &DownloadPolicy) -> Result<Downloaded> {
    match tokio::time::timeout(policy.timeout, fetch(url, policy)).await {
        Ok(result) => result,
        Err(_) => Err(refused(
            url,
            format!("it took longer than {} s", policy.timeout.as_secs_f64()),
        )),
    }
}

async fn fetch(url: &str, policy: &DownloadPolicy) -> Result<Downloaded> {
    let mut current = reqwest::Url::parse(url).map_err(|e| refused(url, e))?;
    for _ in 0..=policy.max_redirects {
        let address = checked_address(&current, policy).await?;
        let host = current.host_str().unwrap_or_default().to_owned();
        // pinned to the checked address: no second lookup
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .resolve(&host, address)
            .build()
            .map_err(|e| Error::User(format!("cannot build the download client: {e}")))?;
        let response = client
            .get(current.clone())
            .send()
            .await
            .map_err(|e| refused(current.as_str(), e))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| refused(current.as_str(), "a redirect without a location"))?;
            current = current
                .join(location)
                .map_err(|e| refused(current.as_str(), e))?;
            continue;
        }
        if !status.is_success() {
            return Err(Error::User(format!(
                "downloading {current} gave HTTP {status}"
            )));
        }
        if response
            .content_length()
            .is_some_and(|n| n > policy.max_bytes as u64)
        {
            return Err(refused(
                current.as_str(),
                format!("it is larger than {} bytes", policy.max_bytes),
            ));
        }
        let media_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned());
        let mut body = Vec::new();
        let mut chunks = response.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| refused(current.as_str(), e))?;
            if body.len() + chunk.len() > policy.max_bytes {
                return Err(refused(
                    current.as_str(),
                    format!("it is larger than {} bytes", policy.max_bytes),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        return Ok(Downloaded {
            data: Bytes::from(body),
            media_type,
        });
    }
    Err(refused(
        url,
        format!("more than {} redirects", policy.max_redirects),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn private_and_metadata_addresses_are_refused() {
        let strict = DownloadPolicy::default();
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00:ec2::254",
            "fc00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(refused_address(ip, &strict).is_some(), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1", "8.8.8.8"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(refused_address(ip, &strict), None, "{ip}");
        }
        let open = DownloadPolicy::default().allow_private(true);
        assert_eq!(refused_address("127.0.0.1".parse().unwrap(), &open), None);
        // the metadata endpoint stays refused
        assert!(refused_address("169.254.169.254".parse().unwrap(), &open).is_some());
    }
}
