//! The C ABI as C, C++ and Qt programs use it (`cargo test --release --test
//! c_abi`): the generated header, the C test suite (tests/c/), the examples-c
//! CLI, and the installed package (packaging/install.sh, pkg-config, CMake,
//! qmake, the C++ wrapper, the Qt example). The programs link the cdylib this
//! `cargo test` built (`cdylib`).

mod cdylib;
#[path = "../common/child.rs"]
mod child;
#[path = "../common/mavsdk_peer.rs"]
mod mavsdk_peer;
#[path = "../common/port.rs"]
mod port;
mod support;
#[path = "../common/venv.rs"]
mod venv;

mod c_api;
mod cli;
mod header;
mod packaging;
