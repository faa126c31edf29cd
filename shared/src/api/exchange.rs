//! `POST /items/exchange`: the public token and Link's onSuccess metadata in, the stored item out.

use super::{authenticate, no_route};
use crate::http::{ApiError, finish, json_body, json_response, path_segments, request_id};
use crate::services::{App, exchange};
use lambda_http::{Body, Request, Response};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let rid = request_id(&req);
    finish(&rid, route(app, &req).await)
}

async fn route(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let segs = path_segments(req);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (req.method().as_str(), segs.as_slice()) {
        ("POST", ["items", "exchange"]) => {
            let user = authenticate(app, req).await?;
            let body: exchange::ExchangeRequest = json_body(req)?;
            let item = exchange::exchange(app, &user, body).await?;
            Ok(json_response(200, &serde_json::json!({ "item": item })))
        }
        _ => Err(no_route(req)),
    }
}
