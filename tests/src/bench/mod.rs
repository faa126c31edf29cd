//! Measuring the functions the way Lambda runs them: a minimal Lambda Runtime API that times a function
//! process from spawn to its first `next` request (init) and each event's round trip (warm latency), and
//! a counting proxy in front of moto that tallies every AWS call by operation.

pub mod aws_counter;
pub mod runtime_api;
