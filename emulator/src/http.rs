//! HTTP helpers shared by the Plaid pipeline, the control API and the Link pages: bounded body
//! reads, `application/x-www-form-urlencoded` parsing, URL checks.

use axum::body::Body;
use axum::http::{HeaderMap, header};

use crate::wire::PlaidError;

/// Reads a request body up to `limit` bytes.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, PlaidError> {
    let too_large = || PlaidError::invalid_body(format!("request body is too large: the limit is {limit} bytes"));
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match axum::body::to_bytes(body, limit).await {
        Ok(b) => Ok(b.to_vec()),
        Err(_) => Err(too_large()),
    }
}

/// Parses `application/x-www-form-urlencoded` text (also query strings) into its pairs, in order.
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(s.as_bytes()).into_owned().collect()
}

/// The first value of `name` in parsed form pairs.
pub fn form_field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Whether `url` is an absolute http(s) URL.
pub fn is_http_url(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn form_parsing() {
        let f = parse_form("a=1&b=hello+world&c=%2Fx%3F&mask=0000&mask=1111&bad=%zz&end=%4");
        assert_eq!(form_field(&f, "b"), Some("hello world"));
        assert_eq!(form_field(&f, "c"), Some("/x?"));
        assert_eq!(f.iter().filter(|(k, _)| k == "mask").count(), 2);
        assert_eq!(form_field(&f, "bad"), Some("%zz"));
        assert_eq!(form_field(&f, "end"), Some("%4"));
    }

    #[test]
    fn urls() {
        assert!(is_http_url("https://example.com/hook"));
        assert!(is_http_url("http://127.0.0.1:8080"));
        assert!(!is_http_url("ftp://example.com"));
        assert!(!is_http_url("not a url"));
    }
}
