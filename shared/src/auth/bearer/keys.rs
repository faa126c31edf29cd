//! The issuer's keys that weft can use, by kid.

use crate::ports::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::sync::Arc;

/// A key ready to verify with, and the one algorithm it may verify.
pub(crate) struct UsableKey {
    pub key: DecodingKey,
    pub alg: Algorithm,
}

/// The keys by kid that weft can use: RSA for RS256, P-256 for ES256, signature use only. Everything else
/// (HMAC secrets, other curves, encryption keys) is dropped, so no token can pick them.
pub(crate) fn usable_keys(jwks: Vec<Jwk>) -> HashMap<String, Arc<UsableKey>> {
    let mut out = HashMap::new();
    for jwk in jwks {
        let Some(kid) = jwk.kid.clone().filter(|k| !k.is_empty()) else {
            continue;
        };
        if jwk.key_use.as_deref().is_some_and(|u| u != "sig") {
            continue;
        }
        let usable = match (jwk.kty.as_str(), jwk.alg.as_deref()) {
            ("RSA", None | Some("RS256")) => match (&jwk.n, &jwk.e) {
                (Some(n), Some(e)) => {
                    DecodingKey::from_rsa_components(n, e).ok().map(|key| UsableKey { key, alg: Algorithm::RS256 })
                }
                _ => None,
            },
            ("EC", None | Some("ES256")) if jwk.crv.as_deref() == Some("P-256") => match (&jwk.x, &jwk.y) {
                (Some(x), Some(y)) => {
                    DecodingKey::from_ec_components(x, y).ok().map(|key| UsableKey { key, alg: Algorithm::ES256 })
                }
                _ => None,
            },
            _ => None,
        };
        if let Some(k) = usable {
            out.insert(kid, Arc::new(k));
        }
    }
    out
}
