//! The commands: one module per command family, each writing its output to `out`.

mod demo;
mod export;
mod health;
mod import;
mod memory;
mod migrate;
mod policies;
mod query;
mod vectors;

use std::io::Write;

use crate::args::{Cli, Command};
use crate::database::Target;
use crate::error::CliError;

/// Runs the command `cli` names against `target`, writing its output to `out`.
pub fn run(cli: Cli, target: &Target, out: &mut dyn Write) -> Result<(), CliError> {
    match cli.command {
        Command::Demo => demo::run(target, out),
        Command::InitDb => migrate::init_db(target, out),
        Command::Migrate(command) => migrate::run(command, target, out),
        Command::Put(args) => memory::put(args, target, out),
        Command::Get(args) => memory::get(args, target, out),
        Command::Delete(args) => memory::delete(args, target, out),
        Command::Stats(args) => memory::stats(args, target, out),
        Command::Query(args) => query::run(args, target, out),
        Command::Import(args) => import::run(args, target, out),
        Command::Export(args) => export::run(args, target, out),
        Command::Sweep(args) => memory::sweep(args, target, out),
        Command::History(args) => memory::history(args, target, out),
        Command::Health(args) => health::run(args, target, out),
        Command::Policies(command) => policies::run(command, target, out),
        Command::Vectors(command) => vectors::run(command, target, out),
    }
}
