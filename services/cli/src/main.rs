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
//! - [`lab`]         `keyhold lab`: the AWS lab's six steps, checked
//! - [`env`]         `keyhold env`: the endpoints and dev credentials as exports
//! - [`profiles`]    keys of a named profile of ~/.aws/credentials or ~/.aws/config
//! - [`s3`]          `keyhold s3`: object-svc with the AWS CLI's `aws s3` commands
//! - [`table`]       `--output table`: responses as tables

mod dev_secrets;
mod env;
mod events;
mod kms;
mod lab;
mod profiles;
mod remote;
mod s3;
mod services;
mod signals;
mod supervisor;
mod table;
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
    ///
    /// Example: keyhold up --tls
    Up(up::UpArgs),
    /// kms-svc: keys, aliases, key policies, encryption (the AWS CLI's `aws kms`).
    Kms(kms::KmsArgs),
    /// object-svc: buckets and objects (the AWS CLI's `aws s3`, and the `aws s3api`
    /// calls of the lab).
    S3(s3::S3Args),
    /// audit-svc's event history (the AWS CLI's `aws cloudtrail lookup-events`).
    Events(events::EventsArgs),
    /// audit-svc's trails: create (with a new bucket, Insights), status, start/stop,
    /// validate-logs.
    Trail(trail::TrailArgs),
    /// Walk through the six steps of the AWS KMS lab against a running keyhold and
    /// print a checklist; exits 1 if anything deviated.
    ///
    /// Example: keyhold lab --keep
    Lab(lab::LabArgs),
    /// Print a completion script for your shell.
    ///
    /// Example: keyhold completions bash > ~/.local/share/bash-completion/completions/keyhold
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
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
        Command::S3(args) => return remote::exit_status(s3::run(args).await),
        Command::Lab(args) => return remote::exit_status(lab::run(args).await),
        Command::Events(args) => return remote::exit_status(events::run(args).await),
        Command::Trail(args) => return remote::exit_status(trail::run(args).await),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "keyhold", &mut std::io::stdout());
            Ok(())
        }
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command a user can run: `keyhold <group> <command>` and the leaf groups.
    fn leaves(command: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
        let subcommands: Vec<&clap::Command> = command
            .get_subcommands()
            .filter(|c| c.get_name() != "help")
            .collect();
        if subcommands.is_empty() {
            out.push((path, command.clone()));
            return;
        }
        for sub in subcommands {
            leaves(sub, format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_command_has_an_example_in_its_help() {
        let mut all = Vec::new();
        leaves(&super::Cli::command(), "keyhold".to_owned(), &mut all);
        assert!(all.len() > 40, "{} commands", all.len());
        let missing: Vec<&str> = all
            .iter()
            .filter(|(_, command)| {
                let help = command.clone().render_long_help().to_string();
                !help.contains("Example: keyhold ") && !help.contains("Example: eval")
            })
            .map(|(path, _)| path.as_str())
            .collect();
        assert!(missing.is_empty(), "no example in the help of: {missing:?}");
    }

    #[test]
    fn completions_name_the_commands() {
        let mut script = Vec::new();
        clap_complete::generate(
            clap_complete::Shell::Bash,
            &mut super::Cli::command(),
            "keyhold",
            &mut script,
        );
        let script = String::from_utf8(script).unwrap();
        for word in ["presign", "create-key", "lab", "lookup", "--sse-kms-key-id"] {
            assert!(
                script.contains(word),
                "{word} missing from the bash completions"
            );
        }
    }
}
