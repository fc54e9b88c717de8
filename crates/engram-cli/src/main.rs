//! The `engram` binary: parses the command line, picks the database, sets up logging and
//! runs one command; errors become one line on stderr and exit status 1.

mod args;
mod commands;
mod database;
mod error;
mod logging;
mod output;
mod pages;
mod progress;
mod redact;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::Parser;

use crate::database::Target;
use crate::error::OutputResult;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let target = Target::resolve(cli.database_url.clone(), cli.actor.clone());
    redact::remember_dsn(target.raw());
    logging::init();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result = commands::run(cli, &target, &mut out).and_then(|()| out.flush().output());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Whatever was written before the error still goes out, ahead of the message.
            let _ = out.flush();
            err.report()
        }
    }
}
