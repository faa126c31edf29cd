//! Measuring the functions the way Lambda runs them: a minimal Lambda Runtime API that times a function
//! process from spawn to its first `next` request (init) and each event's round trip (warm latency), a
//! counting proxy in front of moto that tallies every AWS call by operation, the function process itself,
//! the events it is fed, and the per-request call tallies. `bench-functions` drives them.

pub mod aws_counter;
pub mod calls;
pub mod events;
pub mod host;
pub mod process;
pub mod runtime_api;
pub mod stats;
