//! Links (`cargo test --release --test link`): custom links, UDP, TCP and
//! serial, the link simulator and its UDP proxy, throughput (ignored; by
//! hand).

mod batch;
mod custom;
mod net;
mod perf;
mod signing;
mod sim;
