//! The AWS SDK's HTTP client on the container's one TLS configuration ([`super::tls`]).
//!
//! The SDK's default client (`aws-smithy-http-client`) builds its rustls configuration itself: it loads the
//! system's roots and parses them into a new root store for every connector it builds, one of which it
//! builds (and drops) when each service client is created, to validate it. This one is the same stack
//! (hyper-util's pooled client over hyper-rustls, HTTP/1.1) on the shared configuration: nothing is loaded
//! or parsed when a service client is created or a connection is made. It honours the SDK's connect timeout
//! (TCP and TLS handshake) and read timeout (to the response head), pools connections per timeout settings
//! as the SDK's does, and classifies failures as the SDK's does (timeouts, I/O errors that are safe to
//! retry, user errors, others), so the SDK's retry rules see the same errors.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::collections::HashMap;
use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// An HTTP client for the AWS SDK over `tls` (its ALPN should offer HTTP/1.1 only).
pub fn client(tls: Arc<rustls::ClientConfig>) -> SharedHttpClient {
    SharedHttpClient::new(AwsHttpClient { tls, connectors: Mutex::default() })
}

type Timeouts = (Option<Duration>, Option<Duration>);

struct AwsHttpClient {
    tls: Arc<rustls::ClientConfig>,
    /// One pooled connector per (connect, read) timeout pair, as the SDK's client keeps them.
    connectors: Mutex<HashMap<Timeouts, SharedHttpConnector>>,
}

impl std::fmt::Debug for AwsHttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsHttpClient").finish_non_exhaustive()
    }
}

impl HttpClient for AwsHttpClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().unwrap_or_else(|p| p.into_inner());
        connectors.entry(key).or_insert_with(|| SharedHttpConnector::new(Connector::new(self.tls.clone(), key))).clone()
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper", Some("1.x".into())))
    }
}

type Https = hyper_rustls::HttpsConnector<TcpConnector>;

/// One pool of connections and its timeouts.
struct Connector {
    client: Client<ConnectTimeout<Https>, SdkBody>,
    read_timeout: Option<Duration>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").field("read_timeout", &self.read_timeout).finish_non_exhaustive()
    }
}

impl Connector {
    fn new(tls: Arc<rustls::ClientConfig>, (connect_timeout, read_timeout): Timeouts) -> Self {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let https = hyper_rustls::HttpsConnector::from((tcp, tls));
        let client = Client::builder(TokioExecutor::new())
            // Idle connections are closed by the pool's timer (hyper's default idle timeout, 90 s).
            .pool_timer(TokioTimer::new())
            .build(ConnectTimeout { inner: https, timeout: connect_timeout });
        Self { client, read_timeout }
    }
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        let response = self.client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let response = match read_timeout {
                Some(limit) => match tokio::time::timeout(limit, response).await {
                    Ok(response) => response,
                    Err(_) => return Err(ConnectorError::timeout(Box::new(TimedOut("read", limit)))),
                },
                None => response.await,
            };
            match response {
                Ok(response) => HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                    .map_err(|e| ConnectorError::other(e.into(), None)),
                Err(e) => Err(classify(e)),
            }
        })
    }
}

/// A connect or read timeout.
#[derive(Debug, thiserror::Error)]
#[error("{0} timeout of {1:?} elapsed")]
struct TimedOut(&'static str, Duration);

/// Bounds connection establishment (TCP connect and TLS handshake) by the SDK's connect timeout.
#[derive(Debug, Clone)]
struct ConnectTimeout<C> {
    inner: C,
    timeout: Option<Duration>,
}

impl<C> tower_service::Service<http::Uri> for ConnectTimeout<C>
where
    C: tower_service::Service<http::Uri>,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match timeout {
                Some(limit) => match tokio::time::timeout(limit, connecting).await {
                    Ok(connected) => connected.map_err(Into::into),
                    Err(_) => Err(Box::new(TimedOut("connect", limit)) as BoxError),
                },
                None => connecting.await.map_err(Into::into),
            }
        })
    }
}

/// The SDK's classification of a failed call (`aws-smithy-http-client`'s): timeouts; I/O failures and
/// connect errors (retryable: nothing or not all was processed); hyper's user errors; an incomplete message
/// as transient; anything else unclassified.
fn classify(error: hyper_util::client::legacy::Error) -> ConnectorError {
    let connect = error.is_connect();
    let error: BoxError = Box::new(error);
    if find::<TimedOut>(error.as_ref()).is_some() {
        return ConnectorError::timeout(error);
    }
    if let Some(hyper_error) = find::<hyper::Error>(error.as_ref()) {
        if hyper_error.is_timeout() {
            return ConnectorError::timeout(error);
        }
        if hyper_error.is_user() {
            return ConnectorError::user(error);
        }
        if hyper_error.is_closed() || hyper_error.is_canceled() || find::<std::io::Error>(hyper_error).is_some() {
            return ConnectorError::io(error);
        }
        if hyper_error.is_incomplete_message() {
            return ConnectorError::other(error, Some(ErrorKind::TransientError));
        }
        return ConnectorError::other(error, None);
    }
    if connect || find::<std::io::Error>(error.as_ref()).is_some() {
        return ConnectorError::io(error);
    }
    ConnectorError::other(error, None)
}

/// The first error of type `E` in `error`'s source chain, `error` included.
fn find<'a, E: Error + 'static>(error: &'a (dyn Error + 'static)) -> Option<&'a E> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;

    fn connector(client: &SharedHttpClient, settings: HttpConnectorSettings) -> SharedHttpConnector {
        let components = RuntimeComponentsBuilder::for_tests().build().unwrap();
        client.http_connector(&settings, &components)
    }

    fn tls() -> Arc<rustls::ClientConfig> {
        Arc::new(super::super::tls::client_config(super::super::tls::ALPN_HTTP1).unwrap())
    }

    fn get(uri: &str) -> HttpRequest {
        HttpRequest::try_from(http::Request::builder().uri(uri).body(SdkBody::empty()).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn answers_over_plain_http_and_pools_per_timeouts() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buf = [0u8; 1024];
                    let _ = socket.read(&mut buf).await;
                    let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
                });
            }
        });
        let pooled = AwsHttpClient { tls: tls(), connectors: Mutex::default() };
        let components = RuntimeComponentsBuilder::for_tests().build().unwrap();
        let settings = HttpConnectorSettings::builder().connect_timeout(Duration::from_secs(1)).build();
        let response =
            pooled.http_connector(&settings, &components).call(get(&format!("http://{addr}/"))).await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let body = aws_smithy_types::byte_stream::ByteStream::new(response.into_body()).collect().await.unwrap();
        assert_eq!(body.into_bytes().as_ref(), b"ok");
        pooled.http_connector(&settings, &components);
        assert_eq!(pooled.connectors.lock().unwrap().len(), 1, "one pool per timeout settings");
        pooled.http_connector(&HttpConnectorSettings::builder().build(), &components);
        assert_eq!(pooled.connectors.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_io_error_and_a_silent_server_a_read_timeout() {
        let client = client(tls());
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let err = connector(&client, HttpConnectorSettings::builder().build())
            .call(get(&format!("http://{closed}/")))
            .await
            .unwrap_err();
        assert!(err.is_io(), "{err:?}");

        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let _held = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let (socket, _) = silent.accept().await.unwrap();
                held.push(socket);
            }
        });
        let settings = HttpConnectorSettings::builder().read_timeout(Duration::from_millis(100)).build();
        let err = connector(&client, settings).call(get(&format!("http://{addr}/"))).await.unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
    }
}
