//! `keyhold trail`: audit-svc's trails over gRPC, with the lab's choices as flags
//! (`aws cloudtrail` names where AWS has the operation).

use clap::{Args, Subcommand, ValueEnum};
use keyhold_proto::audit::v1::{self as pb, trail_service_client::TrailServiceClient};

use crate::remote::{RemoteArgs, print, reply, show};

/// The proto package of audit-svc's messages.
const PACKAGE: &str = "keyhold.audit.v1";

#[derive(Debug, Args)]
pub struct TrailArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(subcommand)]
    pub command: TrailCommand,
}

#[derive(Debug, Subcommand)]
pub enum TrailCommand {
    /// A trail into a bucket; with --new-bucket the bucket is made with CloudTrail's
    /// bucket policy, as the console does. Logging starts at once, as in the console.
    ///
    /// Example: keyhold trail create --name myTrail --s3-bucket-name mycloudtrailbucket1
    ///   --new-bucket --insights both
    Create(Create),
    /// Example: keyhold trail status --name myTrail
    Status(Named),
    /// Example: keyhold trail start --name myTrail
    Start(Named),
    /// Example: keyhold trail stop --name myTrail
    Stop(Named),
    /// Example: keyhold trail describe
    Describe,
    /// Example: keyhold trail delete --name myTrail
    Delete(Named),
    /// Checks the trail's digest and log files over a time range, as `aws cloudtrail
    /// validate-logs` does; exit status 1 when a file is not valid.
    ///
    /// Example: keyhold trail validate-logs --name myTrail --start-time 2026-12-07T00:00:00Z
    ValidateLogs {
        #[arg(long)]
        name: String,
        /// RFC 3339.
        #[arg(long)]
        start_time: String,
        #[arg(long, default_value = "")]
        end_time: String,
        /// Name every file checked, valid ones too (the AWS CLI's --verbose).
        #[arg(long)]
        verbose: bool,
    },
}

#[derive(Debug, Args)]
pub struct Named {
    /// The trail's name or ARN.
    #[arg(long)]
    name: String,
}

#[derive(Debug, Args)]
pub struct Create {
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub s3_bucket_name: String,
    /// Make the bucket, with CloudTrail's bucket policy and SSE-S3.
    #[arg(long)]
    pub new_bucket: bool,
    /// Sign digest files (log file validation), on by default as in the console.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub log_file_validation: bool,
    /// Which Insights to turn on.
    #[arg(long, value_enum, default_value_t = Insights::None)]
    pub insights: Insights,
    /// Log S3 object reads and writes of every bucket too (data events), beside the
    /// management events.
    #[arg(long)]
    pub s3_data_events: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Insights {
    None,
    ApiCallRate,
    ApiErrorRate,
    Both,
}

impl Insights {
    fn selectors(self) -> Vec<pb::InsightSelector> {
        let types: &[&str] = match self {
            Insights::None => &[],
            Insights::ApiCallRate => &["ApiCallRateInsight"],
            Insights::ApiErrorRate => &["ApiErrorRateInsight"],
            Insights::Both => &["ApiCallRateInsight", "ApiErrorRateInsight"],
        };
        types
            .iter()
            .map(|t| pb::InsightSelector {
                insight_type: (*t).to_owned(),
            })
            .collect()
    }
}

/// The caller's trails client.
pub type Client = TrailServiceClient<crate::remote::Authenticated>;

pub async fn run(args: TrailArgs) -> anyhow::Result<()> {
    let channel = args.remote.channel(&args.remote.audit_endpoint)?;
    let mut trails = TrailServiceClient::with_interceptor(channel, args.remote.credentials()?);
    let output = args.remote.output();
    match args.command {
        TrailCommand::Create(create) => {
            let created = self::create(&mut trails, &create).await?;
            print(&format!("{PACKAGE}.CreateTrailResponse"), &created, output);
            Ok(())
        }
        TrailCommand::Status(named) => show(
            PACKAGE,
            "GetTrailStatus",
            trails
                .get_trail_status(pb::GetTrailStatusRequest { name: named.name })
                .await,
            output,
        ),
        TrailCommand::Start(named) => show(
            PACKAGE,
            "StartLogging",
            trails
                .start_logging(pb::StartLoggingRequest { name: named.name })
                .await,
            output,
        ),
        TrailCommand::Stop(named) => show(
            PACKAGE,
            "StopLogging",
            trails
                .stop_logging(pb::StopLoggingRequest { name: named.name })
                .await,
            output,
        ),
        TrailCommand::Describe => show(
            PACKAGE,
            "DescribeTrails",
            trails
                .describe_trails(pb::DescribeTrailsRequest::default())
                .await,
            output,
        ),
        TrailCommand::Delete(named) => show(
            PACKAGE,
            "DeleteTrail",
            trails
                .delete_trail(pb::DeleteTrailRequest { name: named.name })
                .await,
            output,
        ),
        TrailCommand::ValidateLogs {
            name,
            start_time,
            end_time,
            verbose,
        } => {
            let request = pb::ValidateLogsRequest {
                trail_name: name,
                start_time,
                end_time,
            };
            validate_logs(&mut trails, request, verbose).await
        }
    }
}

/// CreateTrail, then the event and Insights selections asked for, then StartLogging:
/// the console's one step.
pub async fn create(
    trails: &mut Client,
    create: &Create,
) -> anyhow::Result<pb::CreateTrailResponse> {
    let request = pb::CreateTrailRequest {
        name: create.name.clone(),
        s3_bucket_name: create.s3_bucket_name.clone(),
        enable_log_file_validation: create.log_file_validation,
        create_s3_bucket: create.new_bucket,
        ..Default::default()
    };
    let created = reply("CreateTrail", trails.create_trail(request).await)?;
    if create.s3_data_events {
        let request = pb::PutEventSelectorsRequest {
            trail_name: create.name.clone(),
            event_selectors: vec![pb::EventSelector {
                read_write_type: "All".into(),
                include_management_events: Some(true),
                data_resources: vec![pb::DataResource {
                    r#type: "AWS::S3::Object".into(),
                    values: vec!["arn:aws:s3".into()],
                }],
                exclude_management_event_sources: Vec::new(),
            }],
            advanced_event_selectors: Vec::new(),
        };
        reply(
            "PutEventSelectors",
            trails.put_event_selectors(request).await,
        )?;
    }
    let selectors = create.insights.selectors();
    if !selectors.is_empty() {
        let request = pb::PutInsightSelectorsRequest {
            trail_name: create.name.clone(),
            insight_selectors: selectors,
        };
        reply(
            "PutInsightSelectors",
            trails.put_insight_selectors(request).await,
        )?;
    }
    let request = pb::StartLoggingRequest {
        name: create.name.clone(),
    };
    reply("StartLogging", trails.start_logging(request).await)?;
    Ok(created)
}

/// The validation report, a line per file that is not valid (every file with
/// --verbose), then the AWS CLI's closing lines.
async fn validate_logs(
    trails: &mut Client,
    request: pb::ValidateLogsRequest,
    verbose: bool,
) -> anyhow::Result<()> {
    let mut stream = reply("ValidateLogs", trails.validate_logs(request).await)?;
    let failed = |status| crate::remote::CallError::from_status("ValidateLogs", &status);
    let mut summary = None;
    while let Some(page) = stream.message().await.map_err(failed)? {
        for file in page.files {
            let kind = match file.kind() {
                pb::FileKind::Digest => "Digest file",
                _ => "Log file",
            };
            let location = format!("s3://{}/{}", file.s3_bucket, file.s3_object);
            if file.status() != pb::FileStatus::Valid {
                println!("{kind}\t{location}\tINVALID: {}", file.reason);
            } else if verbose {
                println!("{kind}\t{location}\tvalid");
            }
        }
        summary = page.summary.or(summary);
    }
    let summary =
        summary.ok_or_else(|| anyhow::anyhow!("the validation ended without a summary"))?;
    print!("{}", summary.text);
    anyhow::ensure!(summary.valid, "some files are not valid");
    Ok(())
}
