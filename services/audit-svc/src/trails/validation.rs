//! ListPublicKeys and ValidateLogs: the time ranges they take, and the validation
//! report in the shape of the gRPC API.

use chrono::{DateTime, Utc};
use keyhold_proto::audit::v1 as pb;

use super::{
    error::{TrailError, TrailResult},
    store::TrailRow,
};
use crate::digests::{
    DigestTrail, PublicKey, ValidationReport,
    digest::format_time,
    validate::{FileCheck, Status},
};

/// Files per ValidateLogs message: a few hundred bytes each, far below gRPC's 4 MiB.
const FILES_PER_MESSAGE: usize = 1000;

fn time_of(field: &str, text: &str) -> TrailResult<Option<DateTime<Utc>>> {
    crate::domain::optional_time(field, text).map_err(TrailError::InvalidTimeRange)
}

fn ordered(start: DateTime<Utc>, end: DateTime<Utc>) -> TrailResult<()> {
    if start > end {
        return Err(TrailError::InvalidTimeRange(
            "Start time must be before or equal to end time.".into(),
        ));
    }
    Ok(())
}

/// ListPublicKeys' range, as AWS reads it: no start means the key valid now, no end
/// means now.
pub fn public_keys_range(
    request: &pb::ListPublicKeysRequest,
    now: DateTime<Utc>,
) -> TrailResult<(DateTime<Utc>, DateTime<Utc>)> {
    let end = time_of("EndTime", &request.end_time)?.unwrap_or(now);
    let start = time_of("StartTime", &request.start_time)?.unwrap_or(end);
    ordered(start, end)?;
    Ok((start, end))
}

pub fn public_key(key: PublicKey) -> pb::PublicKey {
    pb::PublicKey {
        value: key.value,
        validity_start_time: format_time(key.validity_start),
        validity_end_time: format_time(key.validity_end),
        fingerprint: key.fingerprint,
    }
}

/// ValidateLogs' range: a start is required, as with the AWS CLI.
pub fn validation_range(
    request: &pb::ValidateLogsRequest,
    now: DateTime<Utc>,
) -> TrailResult<(DateTime<Utc>, DateTime<Utc>)> {
    let start = time_of("StartTime", &request.start_time)?.ok_or_else(|| {
        TrailError::InvalidTimeRange(
            "StartTime is required: the start of the range to validate.".into(),
        )
    })?;
    let end = time_of("EndTime", &request.end_time)?.unwrap_or(now);
    ordered(start, end)?;
    Ok((start, end))
}

/// What validation needs of a trail: where its digests are.
pub fn digest_trail(row: &TrailRow, start: DateTime<Utc>) -> DigestTrail {
    DigestTrail {
        account_id: row.account_id.clone(),
        region: row.region.clone(),
        name: row.name.clone(),
        bucket: row.s3_bucket_name.clone(),
        prefix: (!row.s3_key_prefix.is_empty()).then(|| row.s3_key_prefix.clone()),
        validation_since: start,
        until: None,
    }
}

fn file(kind: pb::FileKind, check: &FileCheck) -> pb::FileValidation {
    let (status, reason) = match &check.status {
        Status::Valid => (pb::FileStatus::Valid, String::new()),
        Status::Modified(reason) => (pb::FileStatus::Modified, reason.clone()),
        Status::Missing => (pb::FileStatus::Missing, "not found".to_owned()),
        Status::BrokenChain(reason) => (pb::FileStatus::BrokenChain, reason.clone()),
    };
    pb::FileValidation {
        kind: kind.into(),
        s3_bucket: check.bucket.clone(),
        s3_object: check.key.clone(),
        status: status.into(),
        reason,
    }
}

fn counts(checks: &[FileCheck]) -> (u32, u32) {
    let valid = checks.iter().filter(|c| c.status == Status::Valid).count();
    (valid as u32, (checks.len() - valid) as u32)
}

/// The report as ValidateLogs streams it: pages of files, the summary on the last.
pub fn report_messages(report: &ValidationReport) -> Vec<pb::ValidateLogsResponse> {
    let files: Vec<pb::FileValidation> = report
        .digests
        .iter()
        .map(|c| file(pb::FileKind::Digest, c))
        .chain(report.log_files.iter().map(|c| file(pb::FileKind::Log, c)))
        .collect();
    let mut messages: Vec<pb::ValidateLogsResponse> = files
        .chunks(FILES_PER_MESSAGE)
        .map(|page| pb::ValidateLogsResponse {
            files: page.to_vec(),
            summary: None,
        })
        .collect();
    let (valid_digests, invalid_digests) = counts(&report.digests);
    let (valid_log_files, invalid_log_files) = counts(&report.log_files);
    let summary = pb::ValidationSummary {
        trail_arn: report.trail_arn.clone(),
        start_time: format_time(report.start),
        end_time: format_time(report.end),
        valid_digests,
        invalid_digests,
        valid_log_files,
        invalid_log_files,
        valid: report.is_valid(),
        text: report.summary(),
    };
    match messages.last_mut() {
        Some(last) => last.summary = Some(summary),
        None => messages.push(pb::ValidateLogsResponse {
            files: Vec::new(),
            summary: Some(summary),
        }),
    }
    messages
}
