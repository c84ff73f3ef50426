//! Our server (`cargo test --release --test server`) against hand-made
//! requests: bursts and their flow control, the jail, sessions and quotas,
//! routes, the protocol's limits, hostile traffic, special files in the root.

#[path = "../common/content.rs"]
mod content;
#[path = "../common/own_process.rs"]
mod own_process;
mod support;

mod burst;
mod flow;
mod hostile;
mod jail;
mod limits;
mod routes;
mod sessions;
mod special_files;
mod writes;
