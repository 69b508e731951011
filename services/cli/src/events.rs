//! `keyhold events`: audit-svc's event history over gRPC, printed as `aws cloudtrail
//! lookup-events` prints it.

use clap::{Args, Subcommand};
use keyhold_proto::audit::v1::{self as pb, audit_service_client::AuditServiceClient};

use crate::remote::{CallError, RemoteArgs, print_line, reply, show};

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(subcommand)]
    pub command: EventsCommand,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Events newest first, by one attribute, in a time range, a page at a time.
    ///
    /// Example: keyhold events lookup --resource-name <key id> --max-results 5
    Lookup(Lookup),
    /// New events as they are stored, one JSON line each (or text); Ctrl-C ends it.
    ///
    /// Example: keyhold events tail --username AWSLabsUser-0001
    Tail {
        #[command(flatten)]
        attribute: Attribute,
    },
}

#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct Attribute {
    /// Events of this resource (a key id, a bucket...).
    #[arg(long)]
    resource_name: Option<String>,
    /// Events of this user.
    #[arg(long)]
    username: Option<String>,
    /// Events of this API call (GenerateDataKey, PutObject...).
    #[arg(long)]
    event_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct Lookup {
    #[command(flatten)]
    attribute: Attribute,
    /// RFC 3339, e.g. 2026-12-07T10:00:00Z.
    #[arg(long, visible_alias = "start", default_value = "")]
    start_time: String,
    #[arg(long, visible_alias = "end", default_value = "")]
    end_time: String,
    /// 1 to 50 per page.
    #[arg(long, default_value_t = 0)]
    max_results: i32,
    /// The NextToken of the page before.
    #[arg(long, default_value = "")]
    next_token: String,
}

impl Attribute {
    fn lookup_attributes(self) -> Vec<pb::LookupAttribute> {
        let chosen = [
            ("ResourceName", self.resource_name),
            ("Username", self.username),
            ("EventName", self.event_name),
        ];
        chosen
            .into_iter()
            .filter_map(|(key, value)| {
                value.map(|value| pb::LookupAttribute {
                    attribute_key: key.to_owned(),
                    attribute_value: value,
                })
            })
            .collect()
    }
}

pub async fn run(args: EventsArgs) -> anyhow::Result<()> {
    let channel = args.remote.channel(&args.remote.audit_endpoint)?;
    let mut audit = AuditServiceClient::with_interceptor(channel, args.remote.credentials()?);
    match args.command {
        EventsCommand::Lookup(lookup) => {
            let request = pb::LookupEventsRequest {
                lookup_attributes: lookup.attribute.lookup_attributes(),
                start_time: lookup.start_time,
                end_time: lookup.end_time,
                event_category: String::new(),
                max_results: lookup.max_results,
                next_token: lookup.next_token,
            };
            let response = audit.lookup_events(request).await;
            show(
                "keyhold.audit.v1",
                "LookupEvents",
                response,
                args.remote.output(),
            )
        }
        EventsCommand::Tail { attribute } => {
            let request = pb::TailEventsRequest {
                lookup_attribute: attribute.lookup_attributes().into_iter().next(),
                event_category: String::new(),
            };
            let mut stream = reply("TailEvents", audit.tail_events(request).await)?;
            let failed = |status| CallError::from_status("TailEvents", &status);
            loop {
                let next = tokio::select! {
                    // Ctrl-C is how a tail ends: not an error.
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                    next = stream.message() => next.map_err(failed)?,
                };
                let Some(event) = next.and_then(|reply| reply.event) else {
                    return Ok(());
                };
                print_line("keyhold.audit.v1.Event", &event, args.remote.output());
            }
        }
    }
}
