//! `POST /link/token` (new link or update mode) and `GET /link/token/resume` (OAuth re-initialisation).

use super::{authenticate, no_route};
use crate::http::{ApiError, finish, json_body, json_response, path_segments, request_id};
use crate::services::{App, link};
use lambda_http::{Body, Request, Response};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let rid = request_id(&req);
    finish(&rid, route(app, &req).await)
}

async fn route(app: &App, req: &Request) -> Result<Response<Body>, ApiError> {
    let segs = path_segments(req);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (req.method().as_str(), segs.as_slice()) {
        ("POST", ["link", "token"]) => {
            let user = authenticate(app, req).await?;
            let body: link::CreateLinkToken = json_body(req)?;
            let created = link::create(app, &user, body).await?;
            Ok(json_response(200, &created))
        }
        ("GET", ["link", "token", "resume"]) => {
            let user = authenticate(app, req).await?;
            let created = link::resume(app, &user).await?;
            Ok(json_response(200, &created))
        }
        _ => Err(no_route(req)),
    }
}
