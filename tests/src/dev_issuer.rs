//! A development OIDC issuer for the local stack and the tests: an ES256 key, its JWKS and discovery
//! document served over HTTP on a loopback port, and tokens minted on demand (also expired ones and ones
//! claiming another issuer, for the tests that must see them refused).

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

struct Keys {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

/// A running dev issuer.
pub struct DevIssuer {
    url: String,
    audience: String,
    keys: Arc<Keys>,
    stop: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

#[derive(Clone)]
struct Served {
    url: String,
    audience: String,
    keys: Arc<Keys>,
}

#[derive(Deserialize)]
struct TokenRequest {
    sub: String,
    ttl_seconds: Option<i64>,
    /// Groups for the `cognito:groups` claim (`["weft-operators"]` makes an operator).
    #[serde(default)]
    groups: Vec<String>,
}

impl DevIssuer {
    /// Starts the issuer on a free loopback port (on the current tokio runtime).
    pub async fn spawn(audience: &str) -> Result<Self, String> {
        Self::bind(([127, 0, 0, 1], 0).into(), audience).await
    }

    /// Starts the issuer on `addr` (on the current tokio runtime).
    pub async fn bind(addr: std::net::SocketAddr, audience: &str) -> Result<Self, String> {
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let der = secret.to_pkcs8_der().map_err(|e| e.to_string())?;
        let point = secret.public_key().to_encoded_point(false);
        let (x, y) = match (point.x(), point.y()) {
            (Some(x), Some(y)) => (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y)),
            _ => return Err("could not encode the public key".into()),
        };
        let kid = format!("dev-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let jwk = json!({ "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid, "x": x, "y": y });
        let keys = Arc::new(Keys { kid, encoding: EncodingKey::from_ec_der(der.as_bytes()), jwk });

        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let url = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
        let served = Served { url: url.clone(), audience: audience.to_owned(), keys: keys.clone() };
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/.well-known/jwks.json", get(jwks))
            .route("/token", post(token).options(token_preflight))
            .with_state(served);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self { url, audience: audience.to_owned(), keys, stop: std::sync::Mutex::new(Some(stop)) })
    }

    /// Where its JWKS is served.
    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.url)
    }

    /// The `aud` of the tokens it mints.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Stops serving.
    pub fn shutdown(&self) {
        if let Some(stop) = self.stop.lock().ok().and_then(|mut s| s.take()) {
            let _ = stop.send(());
        }
    }

    /// The issuer URL (`iss`); its JWKS is at `<issuer>/.well-known/jwks.json`.
    pub fn issuer_url(&self) -> String {
        self.url.clone()
    }

    /// A valid token for `sub`, living `ttl_seconds`.
    pub fn mint(&self, sub: &str, ttl_seconds: i64) -> String {
        sign(&self.keys, &self.url, &self.audience, sub, ttl_seconds, NO_GROUPS)
    }

    /// A valid token for `sub` in `groups` (the `cognito:groups` claim, as a Cognito user pool issues it).
    pub fn mint_in_groups(&self, sub: &str, groups: &[&str]) -> String {
        sign(&self.keys, &self.url, &self.audience, sub, 3600, groups)
    }

    /// A token that expired ten minutes ago.
    pub fn mint_expired(&self, sub: &str) -> String {
        sign(&self.keys, &self.url, &self.audience, sub, -600, NO_GROUPS)
    }

    /// A token signed with the right key that claims another issuer.
    pub fn mint_with_issuer(&self, sub: &str, issuer: &str) -> String {
        sign(&self.keys, issuer, &self.audience, sub, 3600, NO_GROUPS)
    }

    /// A token for another audience.
    pub fn mint_with_audience(&self, sub: &str, audience: &str) -> String {
        sign(&self.keys, &self.url, audience, sub, 3600, NO_GROUPS)
    }
}

const NO_GROUPS: &[&str] = &[];

fn sign<G: AsRef<str>>(keys: &Keys, issuer: &str, audience: &str, sub: &str, ttl_seconds: i64, groups: &[G]) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (iat, exp) =
        if ttl_seconds < 0 { (now + ttl_seconds - 3600, now + ttl_seconds) } else { (now, now + ttl_seconds) };
    let mut claims = json!({ "iss": issuer, "sub": sub, "aud": audience, "iat": iat, "nbf": iat, "exp": exp });
    if !groups.is_empty() {
        claims["cognito:groups"] = json!(groups.iter().map(AsRef::as_ref).collect::<Vec<&str>>());
    }
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(keys.kid.clone());
    // Signing with a key we just made cannot fail; an empty token would be refused anyway.
    jsonwebtoken::encode(&header, &claims, &keys.encoding).unwrap_or_default()
}

async fn discovery(State(s): State<Served>) -> axum::Json<Value> {
    axum::Json(json!({
        "issuer": s.url,
        "jwks_uri": format!("{}/.well-known/jwks.json", s.url),
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint": format!("{}/token", s.url),
    }))
}

async fn jwks(State(s): State<Served>) -> axum::Json<Value> {
    axum::Json(json!({ "keys": [s.keys.jwk] }))
}

/// `POST /token` is called from the reference web app's dev sign-in, a page on another origin (the local API's):
/// any origin may call it (CORS `*`, no credentials). This is a development issuer on loopback that mints a token
/// for whoever asks; a real identity provider signs users in itself.
const CORS_ANY_ORIGIN: (axum::http::HeaderName, &str) = (axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");

async fn token(
    State(s): State<Served>,
    axum::Json(req): axum::Json<TokenRequest>,
) -> ([(axum::http::HeaderName, &'static str); 1], axum::Json<Value>) {
    let ttl = req.ttl_seconds.unwrap_or(3600).clamp(1, 86_400);
    let token = sign(&s.keys, &s.url, &s.audience, &req.sub, ttl, &req.groups);
    ([CORS_ANY_ORIGIN], axum::Json(json!({ "access_token": token, "token_type": "Bearer", "expires_in": ttl })))
}

/// The browser's CORS preflight of `POST /token` (a JSON body from another origin).
async fn token_preflight() -> (axum::http::StatusCode, [(axum::http::HeaderName, &'static str); 4]) {
    use axum::http::header::{ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_MAX_AGE};
    (
        axum::http::StatusCode::NO_CONTENT,
        [
            CORS_ANY_ORIGIN,
            (ACCESS_CONTROL_ALLOW_METHODS, "POST"),
            (ACCESS_CONTROL_ALLOW_HEADERS, "content-type"),
            (ACCESS_CONTROL_MAX_AGE, "600"),
        ],
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use weft::auth::{AuthError, AuthVerifier};

    fn verifier(issuer: &DevIssuer) -> AuthVerifier {
        let config =
            weft::config::AuthConfig::new(issuer.issuer_url(), vec![issuer.audience().to_owned()], issuer.jwks_url());
        let jwks = weft::adapters::jwks_http::HttpJwks::new(reqwest::Client::new(), config.jwks_url.clone());
        AuthVerifier::new(config, std::sync::Arc::new(jwks))
    }

    #[tokio::test]
    async fn weft_accepts_its_tokens_over_http_and_refuses_the_bad_ones() {
        let issuer = DevIssuer::spawn("weft-test-app").await.unwrap();
        let auth = verifier(&issuer);
        assert_eq!(auth.verify(&issuer.mint("alice", 3600)).await.unwrap().as_str(), "alice");
        assert!(matches!(auth.verify(&issuer.mint_expired("alice")).await, Err(AuthError::Expired)));
        let wrong_iss = issuer.mint_with_issuer("alice", "https://evil.example.com");
        assert!(matches!(auth.verify(&wrong_iss).await, Err(AuthError::WrongIssuer)));
        let wrong_aud = issuer.mint_with_audience("alice", "another-app");
        assert!(matches!(auth.verify(&wrong_aud).await, Err(AuthError::WrongAudience)));
        // Another issuer's key: its kid is unknown here.
        let other = DevIssuer::spawn("weft-test-app").await.unwrap();
        assert!(matches!(auth.verify(&other.mint("alice", 60)).await, Err(AuthError::UnknownKid)));
        assert_eq!(auth.jwks_fetches(), 1);
        other.shutdown();
    }

    #[tokio::test]
    async fn serves_discovery_jwks_and_token() {
        let issuer = DevIssuer::spawn("weft-test-app").await.unwrap();
        let http = reqwest::Client::new();
        let base = issuer.issuer_url();
        let conf: Value =
            http.get(format!("{base}/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        assert_eq!(conf["issuer"], base);
        assert_eq!(conf["jwks_uri"], issuer.jwks_url());
        let minted: Value = http
            .post(format!("{base}/token"))
            .json(&json!({"sub": "bob", "ttl_seconds": 120}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let user = verifier(&issuer).verify(minted["access_token"].as_str().unwrap()).await.unwrap();
        assert_eq!(user.as_str(), "bob");
    }
}
