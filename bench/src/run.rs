//! One benchmark run: ceiling, GenerateDataKey, Decrypt, ceiling again, all on the
//! same server and connections, so the ratios compare like with like.

use std::time::Duration;

use crate::{
    cli::Args,
    client, cpu, fixture,
    load::{self, Settings},
    report::{Phase, Report},
    workload::Kind,
};

/// Where the server is and, when this run started it, its log and the processes
/// whose CPU time is reported.
pub struct Target {
    pub endpoint: String,
    pub log: Option<String>,
    pub watched: cpu::Watched,
}

pub async fn measure(args: &Args, target: &Target, progress: bool) -> anyhow::Result<Report> {
    // Setup uses its own connection so the measured ones start with the same history.
    let fixture = fixture::prepare(client::connect(&target.endpoint).await?).await?;
    let channels = client::connect_many(&target.endpoint, args.connections).await?;
    let settings = Settings {
        concurrency: args.concurrency,
        warmup: Duration::from_secs(args.warmup_seconds),
        measure: Duration::from_secs(args.seconds),
        watched: target.watched.clone(),
        progress,
    };

    // The ceiling is taken before and after: drift between them (thermal, a noisy
    // neighbour) shows, and the mean is fairer to both KMS phases in between.
    let plan = [
        ("health_start", "health (start)", Kind::Health),
        (
            "generate_data_key",
            "GenerateDataKey",
            Kind::GenerateDataKey,
        ),
        ("decrypt", "Decrypt", Kind::Decrypt),
        ("health_end", "health (end)", Kind::Health),
    ];
    let mut phases = Vec::new();
    for (id, name, kind) in plan {
        let outcome = load::run(name, kind, &channels, &fixture, &settings).await?;
        phases.push((kind, Phase::new(id, name, &outcome)));
    }

    let ceilings: Vec<f64> = phases
        .iter()
        .filter(|(kind, _)| *kind == Kind::Health)
        .map(|(_, p)| p.req_per_s)
        .collect();
    let ceiling = ceilings.iter().sum::<f64>() / ceilings.len() as f64;
    let phases: Vec<Phase> = phases
        .into_iter()
        .map(|(kind, phase)| {
            if kind == Kind::Health {
                phase
            } else {
                phase.against(ceiling)
            }
        })
        .collect();

    Ok(Report {
        endpoint: target.endpoint.clone(),
        kms_svc_log: target.log.clone(),
        key_arn: fixture.key_arn,
        concurrency: args.concurrency,
        connections: args.connections,
        warmup_seconds: args.warmup_seconds,
        seconds: args.seconds,
        ceiling_req_per_s: ceiling,
        target_ratio: crate::report::TARGET_RATIO,
        errors: phases.iter().map(|p| p.errors).sum(),
        target_met: phases.iter().all(|p| p.target_met != Some(false)),
        phases,
        kms_svc_stop_error: None,
    })
}
