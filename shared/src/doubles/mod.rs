//! In-memory doubles of every port, named by behaviour, for service tests that run in milliseconds (and
//! for local tools). Built only with the `doubles` feature (the crate's own tests and `weft-tests` turn it
//! on; the functions never do).

mod clock;
mod vault;

pub use clock::FixedClock;
pub use vault::MemoryVault;
