//! `dev-issuer`: the development OIDC issuer on its own, for the local demo and manual testing.
//!
//! ```text
//! dev-issuer --listen 127.0.0.1:8787 --audience weft-local-app
//! curl -s localhost:8787/token -d '{"sub": "alice", "ttl_seconds": 3600}' -H 'content-type: application/json'
//! ```
//! Never expose it: anyone who can reach it can mint tokens.

use clap::Parser;
use std::net::SocketAddr;
use weft_tests::dev_issuer::DevIssuer;

#[derive(Parser)]
#[command(about = "Development OIDC issuer: serves its JWKS and mints ES256 tokens on POST /token")]
struct Args {
    /// Address to listen on (loopback only unless you know why).
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// The `aud` of the tokens it mints (WEFT_AUTH_AUDIENCE of the functions).
    #[arg(long, default_value = "weft-local-app")]
    audience: String,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let issuer = match DevIssuer::bind(args.listen, &args.audience).await {
        Ok(i) => i,
        Err(e) => {
            eprintln!("dev-issuer: {e}");
            std::process::exit(1);
        }
    };
    println!("dev issuer        {}", issuer.issuer_url());
    println!("  JWKS            {}", issuer.jwks_url());
    println!("  audience        {}", issuer.audience());
    println!(
        "  mint a token    curl -s {}/token -H 'content-type: application/json' -d '{{\"sub\": \"alice\"}}'",
        issuer.issuer_url()
    );
    println!("  functions need  WEFT_AUTH_ISSUER={} WEFT_AUTH_AUDIENCE={}", issuer.issuer_url(), issuer.audience());
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("dev-issuer: {e}");
    }
    issuer.shutdown();
}
