//! The container's one TLS client configuration, shared by every HTTPS client: reqwest (Plaid, the
//! issuer's keys) and the AWS SDK's HTTP client ([`super::aws_http`]). rustls on aws-lc-rs (the crypto
//! library already linked in for TLS and for every signature check), TLS 1.2 and 1.3.
//!
//! **Roots: Mozilla's, compiled in** ([`webpki_roots`]). The trust anchors are in the binary as already
//! extracted subjects and keys, so building this configuration reads no file and parses no certificate:
//! init pays nothing for roots, and every client shares one verifier. Loading the system's roots instead
//! (`rustls-native-certs`) costs a directory walk and ~150 certificate parses per load (the SDK's default
//! client and reqwest's platform verifier each did their own), for the same set: Amazon Linux ships
//! Mozilla's list too. What compiled-in roots give up: a root added to or removed from the system store
//! after the build is not seen until the next build (a release picks up the `webpki-roots` of its day), and
//! private CAs installed on the host are not trusted (weft talks only to AWS and Plaid, whose certificates
//! chain to public roots). Locally, moto and the emulator are plain HTTP on loopback; TLS is not involved.

use std::sync::{Arc, LazyLock};

/// ALPN for clients that speak HTTP/2 and HTTP/1.1 (reqwest).
pub const ALPN_H2_HTTP1: &[&[u8]] = &[b"h2", b"http/1.1"];
/// ALPN for HTTP/1.1-only clients (the AWS SDK's).
pub const ALPN_HTTP1: &[&[u8]] = &[b"http/1.1"];

/// The configuration every client copies, built on first use (once per container).
static SHARED: LazyLock<Result<rustls::ClientConfig, rustls::Error>> = LazyLock::new(build);

fn build() -> Result<rustls::ClientConfig, rustls::Error> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The shared configuration with `alpn` offered. Copies share the verifier (the roots), the crypto
/// provider and the session resumption cache; only the ALPN list is each client's own.
pub fn client_config(alpn: &[&[u8]]) -> Result<rustls::ClientConfig, rustls::Error> {
    let mut config = SHARED.as_ref().map_err(Clone::clone)?.clone();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn copies_share_one_verifier_and_differ_in_alpn() {
        let a = client_config(ALPN_H2_HTTP1).unwrap();
        let b = client_config(ALPN_HTTP1).unwrap();
        assert_eq!(a.alpn_protocols, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert_eq!(b.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(Arc::ptr_eq(&a.crypto_provider().clone(), &b.crypto_provider().clone()));
        assert!(!webpki_roots::TLS_SERVER_ROOTS.is_empty());
    }
}
