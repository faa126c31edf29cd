//! Ports: the small traits the services need from the outside world. Adapters implement them
//! (named by technology); test doubles implement them too (named by behaviour).

mod plaid;
mod queue;
mod store;
mod vault;

pub use plaid::*;
pub use queue::*;
pub use store::*;
pub use vault::*;
