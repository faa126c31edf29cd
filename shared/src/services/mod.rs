//! The use cases, written against the ports. Each function binary runs one of them behind the HTTP or
//! event edge; the end-to-end tests drive them through the functions.

mod app;
pub mod churn;
mod error;
pub mod exchange;
pub mod institutions;
pub mod items;
pub mod link;
pub mod sync;
pub mod webhook;

pub use app::App;
pub use error::ServiceError;
