//! `raftkv` binary: run a node, or `raftkv health` to check one.

use std::time::Duration;

use clap::Parser;
use raftkv::config::{Cli, Command, Config};

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Some(Command::Health { addr, timeout_ms }) => raftkv::health::check(&addr, Duration::from_millis(timeout_ms)),
        None => match Config::from_args(&cli.run) {
            Ok(cfg) => raftkv::node::run(cfg),
            Err(e) => {
                eprintln!("raftkv: {e}");
                2
            }
        },
    };
    std::process::exit(code);
}
