//! One benchmark run: ceiling, GenerateDataKey, Decrypt, ceiling again, all on the
//! same server and connections, so the ratios compare like with like.

use std::time::Duration;

use crate::{
    cli::Args,
    client, cpu, fixture,
    load::{self, Settings},
    report::{MedianRatios, Phase, Report, median, median_ratio},
    workload::Kind,
};

/// Where the server is and, when this run started it, its log and the processes
/// whose CPU time is reported.
pub struct Target {
    pub endpoint: String,
    /// kms-svc's AWS JSON endpoint, for --aws-json.
    pub aws_endpoint: String,
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

    // The ceiling is taken before and after each pair of KMS phases: drift between
    // them (thermal, a noisy neighbour) shows, and their mean is fair to both.
    let mut plan = vec![("health_start", "health (start)", Kind::Health, 0)];
    for round in 1..=args.rounds {
        plan.push((
            "generate_data_key",
            "GenerateDataKey",
            Kind::GenerateDataKey,
            round,
        ));
        if args.aws_json {
            plan.push((
                "generate_data_key_aws_json",
                "GenerateDataKey (AWS JSON)",
                Kind::GenerateDataKeyJson,
                round,
            ));
        }
        plan.push(("decrypt", "Decrypt", Kind::Decrypt, round));
        plan.push(if round == args.rounds {
            ("health_end", "health (end)", Kind::Health, round)
        } else {
            ("health", "health", Kind::Health, round)
        });
    }
    let aws = args
        .aws_json
        .then(|| client::aws_kms(&target.aws_endpoint, client::USER1, args.aws_http2));
    let mut phases = Vec::new();
    for (id, name, kind, round) in plan {
        let outcome = load::run(name, kind, &channels, aws.as_ref(), &fixture, &settings).await?;
        let phase = Phase::new(id, name, &outcome).in_round(round, args.rounds);
        phases.push((kind, round as usize, phase));
    }

    let health: Vec<f64> = phases
        .iter()
        .filter(|(kind, _, _)| *kind == Kind::Health)
        .map(|(_, _, p)| p.req_per_s)
        .collect();
    let ceiling = health.iter().sum::<f64>() / health.len() as f64;
    let phases: Vec<Phase> = phases
        .into_iter()
        .map(|(kind, round, phase)| {
            if kind == Kind::Health {
                phase
            } else {
                // Round r sits between health phases r - 1 and r.
                phase.against((health[round - 1] + health[round]) / 2.0)
            }
        })
        .collect();
    let median_ratios = MedianRatios {
        generate_data_key: median_ratio(&phases, "generate_data_key"),
        decrypt: median_ratio(&phases, "decrypt"),
        aws_json_to_grpc: args
            .aws_json
            .then(|| aws_json_to_grpc(&phases, args.rounds)),
    };

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
        target_met: [median_ratios.generate_data_key, median_ratios.decrypt]
            .iter()
            .all(|ratio| *ratio >= crate::report::TARGET_RATIO),
        median_ratios,
        rounds: args.rounds,
        phases,
        kms_svc_stop_error: None,
    })
}

/// The median over the rounds of GenerateDataKey's rate over the AWS JSON protocol
/// divided by its gRPC rate in the same round.
fn aws_json_to_grpc(phases: &[Phase], rounds: u32) -> f64 {
    let rate = |id: &str, round: u32| {
        phases
            .iter()
            // A single round's phases carry no round number.
            .find(|p| p.id == id && p.round.unwrap_or(1) == round)
            .map(|p| p.req_per_s)
    };
    median(
        (1..=rounds)
            .filter_map(|round| {
                Some(rate("generate_data_key_aws_json", round)? / rate("generate_data_key", round)?)
            })
            .collect(),
    )
}
