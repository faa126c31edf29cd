//! A loopback stand-in for an AWS JSON endpoint that answers every request at once with one canned body,
//! shared by the benchmark examples that time the SDK's own work.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Starts the server on its own thread (a current-thread runtime, so it never runs on the caller's) and
/// returns its base URL. Every HTTP/1.1 request on every connection gets `body`; connections stay open.
pub fn start(content_type: &'static str, body: &'static str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async move {
            serve(tokio::net::TcpListener::from_std(listener).expect("listener"), content_type, body).await;
        });
    });
    url
}

async fn serve(listener: tokio::net::TcpListener, content_type: &'static str, body: &'static str) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else { return };
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(8192);
            let mut chunk = [0u8; 8192];
            loop {
                // One request: its head, then its body by Content-Length.
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                buf.drain(..head_end + len);
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\nx-amzn-requestid: r1\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                if socket.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}
