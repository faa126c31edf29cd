//! The events Lambda hands the functions, built as JSON the way the services send them: API Gateway v2
//! HTTP events (`aws_lambda_events::apigw::ApiGatewayV2httpRequest`) and SQS batches.

use serde_json::{Map, Value, json};

/// An API Gateway HTTP API (payload 2.0) event for `method path?query` with `headers` and a text body.
pub fn http(method: &str, path: &str, query: &str, headers: &[(&str, &str)], body: Option<&str>) -> Value {
    let mut hs = Map::new();
    hs.insert("host".into(), json!("api.weft.example"));
    hs.insert("user-agent".into(), json!("weft-bench"));
    hs.insert("x-forwarded-proto".into(), json!("https"));
    for (k, v) in headers {
        hs.insert(k.to_ascii_lowercase(), json!(v));
    }
    if let Some(b) = body {
        hs.insert("content-length".into(), json!(b.len().to_string()));
    }
    let now = time::OffsetDateTime::now_utc();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": hs,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": "api.weft.example",
            "domainPrefix": "api",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "weft-bench"
            },
            "requestId": uuid::Uuid::new_v4().simple().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.unix_timestamp().to_string(),
            "timeEpoch": now.unix_timestamp() * 1000
        },
        "isBase64Encoded": false
    });
    if let Some(b) = body {
        event["body"] = json!(b);
    }
    event
}

/// An app request with a bearer token and, for a body, `content-type: application/json`.
pub fn app_request(method: &str, path: &str, bearer: &str, body: Option<&Value>) -> Value {
    let auth = format!("Bearer {bearer}");
    let text = body.map(Value::to_string);
    let mut headers = vec![("authorization", auth.as_str())];
    if text.is_some() {
        headers.push(("content-type", "application/json"));
    }
    http(method, path, "", &headers, text.as_deref())
}

/// An SQS batch of one message per body (the sync worker's trigger).
pub fn sqs(queue_arn: &str, bodies: &[String]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .map(|body| {
            let id = uuid::Uuid::new_v4().to_string();
            json!({
                "messageId": id,
                "receiptHandle": format!("bench-{id}"),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": (time::OffsetDateTime::now_utc().unix_timestamp() * 1000).to_string(),
                    "SenderId": "bench",
                    "ApproximateFirstReceiveTimestamp": (time::OffsetDateTime::now_utc().unix_timestamp() * 1000).to_string()
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

/// An HTTP function's answer (`ApiGatewayV2httpResponse`): status and parsed JSON body.
pub fn http_response(raw: &[u8]) -> Result<(u16, Value), String> {
    let v: Value = serde_json::from_slice(raw)
        .map_err(|e| format!("not an API Gateway response ({e}): {}", String::from_utf8_lossy(raw)))?;
    let status = v["statusCode"].as_u64().ok_or_else(|| format!("no statusCode in {v}"))? as u16;
    let body = match v["body"].as_str() {
        Some(text) => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())),
        None => Value::Null,
    };
    Ok((status, body))
}
