//! Our client (`cargo test --release --test client`): against our server
//! over the link simulator, against scripted fakes of PX4, ArduPilot and the
//! MAVSDK 4.1 server (`fake_server`: the readable spec of their quirks) and
//! against MAVSDK 4.1's real FtpServer; its integrity rules, sharing a
//! vehicle with other ground stations (ours and pymavlink), the loss
//! matrices, tracing.

#[path = "../common/child.rs"]
mod child;
#[path = "../common/content.rs"]
mod content;
#[path = "../common/driver.rs"]
mod driver;
mod fake_server;
#[path = "../common/json.rs"]
mod json;
mod matrix;
mod mavsdk;
#[path = "../common/mavsdk_peer.rs"]
mod mavsdk_peer;
#[path = "../common/own_process.rs"]
mod own_process;
#[path = "../common/peers.rs"]
mod peers;
#[path = "../common/port.rs"]
mod port;
#[path = "../common/venv.rs"]
mod venv;

mod against_server;
mod byte_tap;
mod extended;
mod first_contact;
mod fleet;
mod ground_stations;
mod integrity;
mod loss_matrix;
mod loss_matrix_mavsdk;
mod mavsdk3_server;
mod mavsdk_extended;
mod mavsdk_server;
mod quirks;
mod recovery;
mod trace;
