//! `keyhold`, the command line of keyhold, a self-hosted AWS KMS/S3/CloudTrail.
//!
//! Table of contents (postgres, run_as, console and files are in the library, lib.rs):
//! - [`up`]          `keyhold up`: flags and the order of things
//! - [`services`]    the table of services and how each is found and configured
//! - [`supervisor`]  services as child processes: output, readiness, stopping
//! - [`postgres`]    DATABASE_URL or a private cluster; one database per service
//! - [`run_as`]      running Postgres tools unprivileged when we are root
//! - [`dev_secrets`] principals.json and the dev master keys in the data dir
//! - [`signals`]     SIGINT/SIGTERM as a value every phase can wait on
//! - [`console`]     progress notes, prefixes, one-line errors
//! - [`files`]       small file-system helpers
//! - [`remote`]      endpoints, credentials, output and errors of the remote commands
//! - [`kms`]         `keyhold kms`: kms-svc with the AWS CLI's commands
//! - [`events`]      `keyhold events`: event history (LookupEvents)
//! - [`trail`]       `keyhold trail`: trails, their status and validation
//! - [`env`]         `keyhold env`: the endpoints and dev credentials as exports

mod dev_secrets;
mod env;
mod events;
mod kms;
mod remote;
mod services;
mod signals;
mod supervisor;
mod trail;
mod up;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
// The pieces the test harness reuses (a private Postgres cluster) live in the library.
use keyhold_cli::{console, files, postgres};

#[derive(Parser)]
#[command(
    name = "keyhold",
    version,
    about = "keyhold: a self-hosted AWS KMS/S3/CloudTrail"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the built keyhold services with a database and dev credentials; Ctrl-C stops them.
    Up(up::UpArgs),
    /// kms-svc: keys, aliases, key policies, encryption (the AWS CLI's `aws kms`).
    Kms(kms::KmsArgs),
    /// audit-svc's event history (the AWS CLI's `aws cloudtrail lookup-events`).
    Events(events::EventsArgs),
    /// audit-svc's trails: create (with a new bucket, Insights), status, start/stop,
    /// validate-logs.
    Trail(trail::TrailArgs),
    /// Print `export` lines for the endpoints and dev credentials of `keyhold up`.
    ///
    /// Example: eval "$(keyhold env)"
    Env,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up::run(args).await,
        Command::Kms(args) => return remote::exit_status(kms::run(args).await),
        Command::Events(args) => return remote::exit_status(events::run(args).await),
        Command::Trail(args) => return remote::exit_status(trail::run(args).await),
        Command::Env => {
            print!("{}", env::exports());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The user asked for it and everything started has been stopped.
        Err(err) if err.is::<signals::Interrupted>() => {
            console::note(err);
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("keyhold: {}", console::one_line(&err));
            ExitCode::FAILURE
        }
    }
}
