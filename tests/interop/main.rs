//! Third-party ground stations against our server (`cargo test --release
//! --test interop`): MAVSDK 4.1's Ftp client and pymavlink's MAVFTP, over
//! loopback, a slow link and on a loaded machine. (Our client against
//! MAVSDK's real server is in tests/client; the Python package against it in
//! tests/python.) The drivers are the Python scripts next to this file.

#[path = "../common/child.rs"]
mod child;
#[path = "../common/content.rs"]
mod content;
#[path = "../common/driver.rs"]
mod driver;
#[path = "../common/json.rs"]
mod json;
#[path = "../common/peers.rs"]
mod peers;
mod support;
#[path = "../common/venv.rs"]
mod venv;

mod clients;
mod signing;
mod slow_link;
mod under_load;
