//! TrailService: CloudTrail's trail API. Each call needs `cloudtrail:<Action>` from
//! the caller's identity policy, on the trail's ARN (or `*` for the calls that list),
//! and works on the trails of the caller's account. The platform stack records every
//! call as a management event of cloudtrail.amazonaws.com.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use keyhold_key_policy::ConditionContext;
use keyhold_platform::{AuditNotes, Caller, iam};
use keyhold_proto::audit::v1::{self as pb, trail_service_server::TrailService};
use tonic::{Request, Response, Status};

use super::{
    Clock, TrailScope,
    error::{TrailError, TrailResult},
    names::{check_bucket_name, check_kms_key_id, check_prefix, check_trail_name, trail_name_of},
    object_client::{TrailObjects, TrailWriter, cloudtrail_bucket_policy},
    selectors::{AdvancedSelector, DataResource, EventSelector, FieldSelector, Selectors},
    store::{TrailRow, TrailSettings, TrailStore},
    validation,
};
use crate::digests::{self, DigestError, ObjectError};

const TRAIL_RESOURCE: &str = "AWS::CloudTrail::Trail";
const INSIGHT_TYPES: [&str; 2] = ["ApiCallRateInsight", "ApiErrorRateInsight"];

pub struct TrailGrpc {
    store: TrailStore,
    writer: TrailWriter,
    region: String,
    clock: Arc<dyn Clock>,
}

type GrpcResult<T> = Result<Response<T>, Status>;

/// The caller of one request and what it may note for the audit record.
struct Call {
    caller: Caller,
    notes: Option<AuditNotes>,
    scope: TrailScope,
}

impl Call {
    fn authorize(&self, action: &str, resource: &str) -> TrailResult<()> {
        let mut context = ConditionContext::new();
        context.insert("aws:PrincipalArn", vec![self.caller.principal.arn.clone()]);
        context.insert(
            "aws:PrincipalAccount",
            vec![self.caller.principal.account_id.clone()],
        );
        iam::check_identity(
            &self.caller,
            &format!("cloudtrail:{action}"),
            resource,
            &context,
        )
        .map_err(TrailError::AccessDenied)
    }

    /// The trail a request names (name or ARN), once the caller may act on it.
    fn trail(&self, action: &str, name_or_arn: &str) -> TrailResult<String> {
        let name = trail_name_of(&self.scope, name_or_arn)?;
        let arn = self.scope.arn(&name);
        self.authorize(action, &arn)?;
        if let Some(notes) = &self.notes {
            notes.add_resource(TRAIL_RESOURCE, &arn, &self.scope.account_id);
        }
        Ok(name)
    }

    fn not_found(&self, name: &str) -> TrailError {
        TrailError::TrailNotFound {
            arn: self.scope.arn(name),
            account: self.scope.account_id.clone(),
        }
    }
}

fn time(value: Option<DateTime<Utc>>) -> String {
    value
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn trail_of(row: &TrailRow) -> pb::Trail {
    pb::Trail {
        name: row.name.clone(),
        s3_bucket_name: row.s3_bucket_name.clone(),
        s3_key_prefix: row.s3_key_prefix.clone(),
        include_global_service_events: row.include_global_service_events,
        is_multi_region_trail: row.is_multi_region_trail,
        home_region: row.region.clone(),
        trail_arn: super::trail_arn(&row.region, &row.account_id, &row.name),
        log_file_validation_enabled: row.log_file_validation_enabled,
        kms_key_id: row.kms_key_id.clone(),
        has_custom_event_selectors: row.has_custom_event_selectors,
        has_insight_selectors: !row.insight_types.is_empty(),
        is_organization_trail: false,
    }
}

fn event_selectors_of(
    selectors: &Selectors,
) -> (Vec<pb::EventSelector>, Vec<pb::AdvancedEventSelector>) {
    match selectors {
        Selectors::EventSelectors(list) => (
            list.iter()
                .map(|s| pb::EventSelector {
                    read_write_type: s.read_write_type.clone(),
                    include_management_events: Some(s.include_management_events),
                    data_resources: s
                        .data_resources
                        .iter()
                        .map(|d| pb::DataResource {
                            r#type: d.kind.clone(),
                            values: d.values.clone(),
                        })
                        .collect(),
                    exclude_management_event_sources: s.exclude_management_event_sources.clone(),
                })
                .collect(),
            Vec::new(),
        ),
        Selectors::AdvancedEventSelectors(list) => (
            Vec::new(),
            list.iter()
                .map(|s| pb::AdvancedEventSelector {
                    name: s.name.clone(),
                    field_selectors: s
                        .field_selectors
                        .iter()
                        .map(|f| pb::AdvancedFieldSelector {
                            field: f.field.clone(),
                            equals: f.equals.clone(),
                            starts_with: f.starts_with.clone(),
                            ends_with: f.ends_with.clone(),
                            not_equals: f.not_equals.clone(),
                            not_starts_with: f.not_starts_with.clone(),
                            not_ends_with: f.not_ends_with.clone(),
                        })
                        .collect(),
                })
                .collect(),
        ),
    }
}

fn selectors_from(request: pb::PutEventSelectorsRequest) -> TrailResult<Selectors> {
    match (
        request.event_selectors.is_empty(),
        request.advanced_event_selectors.is_empty(),
    ) {
        (false, false) => Err(TrailError::InvalidParameterCombination(
            "Only one of EventSelectors and AdvancedEventSelectors can be specified.".into(),
        )),
        (true, true) => Err(TrailError::InvalidEventSelectors(
            "Specify EventSelectors or AdvancedEventSelectors.".into(),
        )),
        (false, true) => Selectors::EventSelectors(
            request
                .event_selectors
                .into_iter()
                .map(|s| EventSelector {
                    read_write_type: if s.read_write_type.is_empty() {
                        "All".into()
                    } else {
                        s.read_write_type
                    },
                    include_management_events: s.include_management_events.unwrap_or(true),
                    data_resources: s
                        .data_resources
                        .into_iter()
                        .map(|d| DataResource {
                            kind: d.r#type,
                            values: d.values,
                        })
                        .collect(),
                    exclude_management_event_sources: s.exclude_management_event_sources,
                })
                .collect(),
        )
        .validated(),
        (true, false) => Selectors::AdvancedEventSelectors(
            request
                .advanced_event_selectors
                .into_iter()
                .map(|s| AdvancedSelector {
                    name: s.name,
                    field_selectors: s
                        .field_selectors
                        .into_iter()
                        .map(|f| FieldSelector {
                            field: f.field,
                            equals: f.equals,
                            starts_with: f.starts_with,
                            ends_with: f.ends_with,
                            not_equals: f.not_equals,
                            not_starts_with: f.not_starts_with,
                            not_ends_with: f.not_ends_with,
                        })
                        .collect(),
                })
                .collect(),
        )
        .validated(),
    }
}

impl TrailGrpc {
    pub fn new(
        store: TrailStore,
        writer: TrailWriter,
        region: String,
        clock: Arc<dyn Clock>,
    ) -> Self {
        TrailGrpc {
            store,
            writer,
            region,
            clock,
        }
    }

    fn open<T>(&self, request: Request<T>) -> Result<(Call, T), Status> {
        let caller = request
            .extensions()
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| Status::unauthenticated(keyhold_platform::error::UNRECOGNIZED_CLIENT))?;
        let notes = request.extensions().get::<AuditNotes>().cloned();
        let scope = TrailScope {
            account_id: caller.principal.account_id.clone(),
            region: self.region.clone(),
        };
        Ok((
            Call {
                caller,
                notes,
                scope,
            },
            request.into_inner(),
        ))
    }

    async fn existing(&self, call: &Call, name: &str) -> TrailResult<TrailRow> {
        self.store
            .get(&call.scope.account_id, name)
            .await?
            .ok_or_else(|| call.not_found(name))
    }

    async fn create(&self, call: &Call, request: pb::CreateTrailRequest) -> TrailResult<TrailRow> {
        check_trail_name(&request.name)?;
        let name = call.trail("CreateTrail", &request.name)?;
        check_bucket_name(&request.s3_bucket_name)?;
        check_prefix(&request.s3_key_prefix)?;
        if !request.kms_key_id.is_empty() {
            check_kms_key_id(&request.kms_key_id)?;
        }
        let account = &call.scope.account_id;
        if self.store.get(account, &name).await?.is_some() {
            return Err(TrailError::TrailAlreadyExists {
                name,
                account: account.clone(),
            });
        }
        let arn = call.scope.arn(&name);
        if request.create_s3_bucket {
            let policy = cloudtrail_bucket_policy(
                &request.s3_bucket_name,
                &request.s3_key_prefix,
                account,
                &arn,
            );
            self.writer
                .create_trail_bucket(&call.caller.principal.arn, &request.s3_bucket_name, policy)
                .await?;
        }
        self.writer
            .check_bucket(&arn, account, &request.s3_bucket_name)
            .await?;
        let settings = TrailSettings {
            s3_bucket_name: request.s3_bucket_name,
            s3_key_prefix: request.s3_key_prefix,
            include_global_service_events: request.include_global_service_events.unwrap_or(true),
            is_multi_region_trail: request.is_multi_region_trail,
            log_file_validation_enabled: request.enable_log_file_validation,
            kms_key_id: request.kms_key_id,
        };
        if !self
            .store
            .insert(account, &name, &self.region, &settings)
            .await?
        {
            return Err(TrailError::TrailAlreadyExists {
                name,
                account: account.clone(),
            });
        }
        self.existing(call, &name).await
    }

    async fn update(&self, call: &Call, request: pb::UpdateTrailRequest) -> TrailResult<TrailRow> {
        let name = call.trail("UpdateTrail", &request.name)?;
        let current = self.existing(call, &name).await?;
        let settings = TrailSettings {
            s3_bucket_name: request
                .s3_bucket_name
                .unwrap_or(current.s3_bucket_name.clone()),
            s3_key_prefix: request
                .s3_key_prefix
                .unwrap_or(current.s3_key_prefix.clone()),
            include_global_service_events: request
                .include_global_service_events
                .unwrap_or(current.include_global_service_events),
            is_multi_region_trail: request
                .is_multi_region_trail
                .unwrap_or(current.is_multi_region_trail),
            log_file_validation_enabled: request
                .enable_log_file_validation
                .unwrap_or(current.log_file_validation_enabled),
            kms_key_id: request.kms_key_id.unwrap_or(current.kms_key_id.clone()),
        };
        check_bucket_name(&settings.s3_bucket_name)?;
        check_prefix(&settings.s3_key_prefix)?;
        if !settings.kms_key_id.is_empty() {
            check_kms_key_id(&settings.kms_key_id)?;
        }
        if settings.s3_bucket_name != current.s3_bucket_name
            || settings.s3_key_prefix != current.s3_key_prefix
        {
            self.writer
                .check_bucket(
                    &call.scope.arn(&name),
                    &call.scope.account_id,
                    &settings.s3_bucket_name,
                )
                .await?;
        }
        if !self
            .store
            .update(&call.scope.account_id, &name, &settings, self.clock.now())
            .await?
        {
            return Err(call.not_found(&name));
        }
        self.existing(call, &name).await
    }

    async fn found(&self, call: &Call, name: &str, done: bool) -> TrailResult<()> {
        if done {
            Ok(())
        } else {
            Err(call.not_found(name))
        }
    }
}

fn created(row: &TrailRow) -> pb::CreateTrailResponse {
    let t = trail_of(row);
    pb::CreateTrailResponse {
        name: t.name,
        s3_bucket_name: t.s3_bucket_name,
        s3_key_prefix: t.s3_key_prefix,
        include_global_service_events: t.include_global_service_events,
        is_multi_region_trail: t.is_multi_region_trail,
        trail_arn: t.trail_arn,
        log_file_validation_enabled: t.log_file_validation_enabled,
        kms_key_id: t.kms_key_id,
        is_organization_trail: false,
    }
}

#[tonic::async_trait]
impl TrailService for TrailGrpc {
    async fn create_trail(
        &self,
        request: Request<pb::CreateTrailRequest>,
    ) -> GrpcResult<pb::CreateTrailResponse> {
        let (call, request) = self.open(request)?;
        let row = self.create(&call, request).await?;
        Ok(Response::new(created(&row)))
    }

    async fn get_trail(
        &self,
        request: Request<pb::GetTrailRequest>,
    ) -> GrpcResult<pb::GetTrailResponse> {
        let (call, request) = self.open(request)?;
        let name = call.trail("GetTrail", &request.name)?;
        let row = self.existing(&call, &name).await?;
        Ok(Response::new(pb::GetTrailResponse {
            trail: Some(trail_of(&row)),
        }))
    }

    async fn describe_trails(
        &self,
        request: Request<pb::DescribeTrailsRequest>,
    ) -> GrpcResult<pb::DescribeTrailsResponse> {
        let (call, request) = self.open(request)?;
        call.authorize("DescribeTrails", "*")?;
        let rows = self
            .store
            .list(&call.scope.account_id)
            .await
            .map_err(Status::from)?;
        let trail_list = if request.trail_name_list.is_empty() {
            rows.iter().map(trail_of).collect()
        } else {
            // As on AWS, names that match no trail are left out, not an error.
            let mut wanted = Vec::with_capacity(request.trail_name_list.len());
            for name in &request.trail_name_list {
                wanted.push(trail_name_of(&call.scope, name).ok());
            }
            rows.iter()
                .filter(|r| wanted.iter().flatten().any(|n| *n == r.name))
                .map(trail_of)
                .collect()
        };
        Ok(Response::new(pb::DescribeTrailsResponse { trail_list }))
    }

    async fn list_trails(
        &self,
        request: Request<pb::ListTrailsRequest>,
    ) -> GrpcResult<pb::ListTrailsResponse> {
        let (call, request) = self.open(request)?;
        call.authorize("ListTrails", "*")?;
        if !request.next_token.is_empty() {
            // Every trail fits one page, so no token this service gave is ever valid.
            return Err(TrailError::InvalidNextToken(
                "Invalid NextToken: keyhold returns every trail in one page.".into(),
            )
            .into());
        }
        let rows = self
            .store
            .list(&call.scope.account_id)
            .await
            .map_err(Status::from)?;
        Ok(Response::new(pb::ListTrailsResponse {
            trails: rows
                .iter()
                .map(|r| pb::TrailInfo {
                    trail_arn: super::trail_arn(&r.region, &r.account_id, &r.name),
                    name: r.name.clone(),
                    home_region: r.region.clone(),
                })
                .collect(),
            next_token: String::new(),
        }))
    }

    async fn update_trail(
        &self,
        request: Request<pb::UpdateTrailRequest>,
    ) -> GrpcResult<pb::UpdateTrailResponse> {
        let (call, request) = self.open(request)?;
        let row = self.update(&call, request).await?;
        let c = created(&row);
        Ok(Response::new(pb::UpdateTrailResponse {
            name: c.name,
            s3_bucket_name: c.s3_bucket_name,
            s3_key_prefix: c.s3_key_prefix,
            include_global_service_events: c.include_global_service_events,
            is_multi_region_trail: c.is_multi_region_trail,
            trail_arn: c.trail_arn,
            log_file_validation_enabled: c.log_file_validation_enabled,
            kms_key_id: c.kms_key_id,
            is_organization_trail: false,
        }))
    }

    async fn delete_trail(
        &self,
        request: Request<pb::DeleteTrailRequest>,
    ) -> GrpcResult<pb::DeleteTrailResponse> {
        let (call, request) = self.open(request)?;
        let name = call.trail("DeleteTrail", &request.name)?;
        let deleted = self.store.delete(&call.scope.account_id, &name).await?;
        self.found(&call, &name, deleted).await?;
        Ok(Response::new(pb::DeleteTrailResponse {}))
    }

    async fn start_logging(
        &self,
        request: Request<pb::StartLoggingRequest>,
    ) -> GrpcResult<pb::StartLoggingResponse> {
        let (call, request) = self.open(request)?;
        let name = call.trail("StartLogging", &request.name)?;
        let started = self
            .store
            .start_logging(&call.scope.account_id, &name, self.clock.now())
            .await?;
        self.found(&call, &name, started).await?;
        Ok(Response::new(pb::StartLoggingResponse {}))
    }

    async fn stop_logging(
        &self,
        request: Request<pb::StopLoggingRequest>,
    ) -> GrpcResult<pb::StopLoggingResponse> {
        let (call, request) = self.open(request)?;
        let name = call.trail("StopLogging", &request.name)?;
        let stopped = self
            .store
            .stop_logging(&call.scope.account_id, &name, self.clock.now())
            .await?;
        self.found(&call, &name, stopped).await?;
        Ok(Response::new(pb::StopLoggingResponse {}))
    }

    async fn get_trail_status(
        &self,
        request: Request<pb::GetTrailStatusRequest>,
    ) -> GrpcResult<pb::GetTrailStatusResponse> {
        let (call, request) = self.open(request)?;
        let name = call.trail("GetTrailStatus", &request.name)?;
        let row = self.existing(&call, &name).await?;
        let succeeded = match (
            &row.latest_delivery_attempt_time,
            &row.latest_delivery_error,
        ) {
            (None, _) => String::new(),
            (Some(_), Some(_)) => "false".into(),
            (Some(_), None) => "true".into(),
        };
        Ok(Response::new(pb::GetTrailStatusResponse {
            is_logging: row.is_logging,
            latest_delivery_error: row.latest_delivery_error.clone().unwrap_or_default(),
            latest_delivery_time: time(row.latest_delivery_time),
            start_logging_time: time(row.start_logging_time),
            stop_logging_time: time(row.stop_logging_time),
            latest_digest_delivery_time: time(row.latest_digest_delivery_time),
            latest_digest_delivery_error: row
                .latest_digest_delivery_error
                .clone()
                .unwrap_or_default(),
            latest_delivery_attempt_time: time(row.latest_delivery_attempt_time),
            latest_delivery_attempt_succeeded: succeeded,
            time_logging_started: time(row.start_logging_time),
            time_logging_stopped: time(row.stop_logging_time),
            ..Default::default()
        }))
    }

    async fn put_event_selectors(
        &self,
        request: Request<pb::PutEventSelectorsRequest>,
    ) -> GrpcResult<pb::PutEventSelectorsResponse> {
        let (call, request) = self.open(request)?;
        let name = call.trail("PutEventSelectors", &request.trail_name)?;
        self.existing(&call, &name).await?;
        let selectors = selectors_from(request)?;
        let put = self
            .store
            .put_selectors(&call.scope.account_id, &name, &selectors)
            .await?;
        self.found(&call, &name, put).await?;
        let (event_selectors, advanced_event_selectors) = event_selectors_of(&selectors);
        Ok(Response::new(pb::PutEventSelectorsResponse {
            trail_arn: call.scope.arn(&name),
            event_selectors,
            advanced_event_selectors,
        }))
    }

    async fn get_event_selectors(
        &self,
        request: Request<pb::GetEventSelectorsRequest>,
    ) -> GrpcResult<pb::GetEventSelectorsResponse> {
        let (call, request) = self.open(request)?;
        let name = call.trail("GetEventSelectors", &request.trail_name)?;
        let row = self.existing(&call, &name).await?;
        let (event_selectors, advanced_event_selectors) = event_selectors_of(&row.selectors);
        Ok(Response::new(pb::GetEventSelectorsResponse {
            trail_arn: call.scope.arn(&name),
            event_selectors,
            advanced_event_selectors,
        }))
    }

    async fn put_insight_selectors(
        &self,
        request: Request<pb::PutInsightSelectorsRequest>,
    ) -> GrpcResult<pb::PutInsightSelectorsResponse> {
        let (call, request) = self.open(request)?;
        let name = call.trail("PutInsightSelectors", &request.trail_name)?;
        self.existing(&call, &name).await?;
        let mut types: Vec<String> = Vec::new();
        for selector in request.insight_selectors {
            if !INSIGHT_TYPES.contains(&selector.insight_type.as_str()) {
                return Err(TrailError::InvalidInsightSelectors(format!(
                    "Invalid InsightType {}. Valid values: {}.",
                    keyhold_platform::error::clipped(&selector.insight_type, 64),
                    INSIGHT_TYPES.join(", ")
                ))
                .into());
            }
            if types.contains(&selector.insight_type) {
                return Err(TrailError::InvalidInsightSelectors(format!(
                    "InsightType {} is specified more than once.",
                    selector.insight_type
                ))
                .into());
            }
            types.push(selector.insight_type);
        }
        let put = self
            .store
            .put_insight_types(&call.scope.account_id, &name, &types)
            .await?;
        self.found(&call, &name, put).await?;
        Ok(Response::new(pb::PutInsightSelectorsResponse {
            trail_arn: call.scope.arn(&name),
            insight_selectors: insight_selectors(&types),
        }))
    }

    async fn get_insight_selectors(
        &self,
        request: Request<pb::GetInsightSelectorsRequest>,
    ) -> GrpcResult<pb::GetInsightSelectorsResponse> {
        let (call, request) = self.open(request)?;
        let name = call.trail("GetInsightSelectors", &request.trail_name)?;
        let row = self.existing(&call, &name).await?;
        if row.insight_types.is_empty() {
            return Err(TrailError::InsightNotEnabled(call.scope.arn(&name)).into());
        }
        Ok(Response::new(pb::GetInsightSelectorsResponse {
            trail_arn: call.scope.arn(&name),
            insight_selectors: insight_selectors(&row.insight_types),
        }))
    }

    async fn list_public_keys(
        &self,
        request: Request<pb::ListPublicKeysRequest>,
    ) -> GrpcResult<pb::ListPublicKeysResponse> {
        let (call, request) = self.open(request)?;
        call.authorize("ListPublicKeys", "*")?;
        if !request.next_token.is_empty() {
            // A region has a key per 30 days: every range fits one page.
            return Err(TrailError::InvalidNextToken(
                "Invalid NextToken: keyhold returns every public key in one page.".into(),
            )
            .into());
        }
        let (start, end) = validation::public_keys_range(&request, self.clock.now())?;
        let keys = digests::list_public_keys(self.store.pool(), &self.region, start, end)
            .await
            .map_err(digest_error)?;
        Ok(Response::new(pb::ListPublicKeysResponse {
            public_key_list: keys.into_iter().map(validation::public_key).collect(),
            next_token: String::new(),
        }))
    }

    type ValidateLogsStream =
        tokio_stream::Iter<std::vec::IntoIter<Result<pb::ValidateLogsResponse, Status>>>;

    async fn validate_logs(
        &self,
        request: Request<pb::ValidateLogsRequest>,
    ) -> GrpcResult<Self::ValidateLogsStream> {
        let (call, request) = self.open(request)?;
        let name = call.trail("DescribeTrails", &request.trail_name)?;
        call.authorize("ListPublicKeys", "*")?;
        let (start, end) = validation::validation_range(&request, self.clock.now())?;
        let row = self.existing(&call, &name).await?;
        let trail = validation::digest_trail(&row, start);
        // Keys valid up to a digest interval past the range: the last digest of the
        // range may end after it.
        let keys = digests::list_public_keys(
            self.store.pool(),
            &self.region,
            start,
            end + chrono::TimeDelta::days(1),
        )
        .await
        .map_err(digest_error)?;
        let bucket = TrailObjects::User {
            writer: &self.writer,
            user_arn: call.caller.principal.arn.clone(),
        };
        let report = digests::validate(&bucket, &trail, &keys, start, end)
            .await
            .map_err(|error| match error {
                // AccessDenied for a caller without s3:GetObject, as the AWS CLI shows S3's.
                ObjectError::Refused(aws) => TrailError::Bucket(*aws),
                ObjectError::NoSuchKey | ObjectError::Other(_) => {
                    tracing::warn!(error = %error, "validation cannot read the bucket");
                    TrailError::Unavailable
                }
            })?;
        let messages = validation::report_messages(&report);
        Ok(Response::new(tokio_stream::iter(
            messages.into_iter().map(Ok).collect::<Vec<_>>(),
        )))
    }
}

/// Key errors are audit-svc's own: the caller sees an internal failure.
fn digest_error(error: DigestError) -> Status {
    match error {
        DigestError::Database(error) => TrailError::from(error).into(),
        other => TrailError::Internal(other.to_string()).into(),
    }
}

fn insight_selectors(types: &[String]) -> Vec<pb::InsightSelector> {
    types
        .iter()
        .map(|t| pb::InsightSelector {
            insight_type: t.clone(),
        })
        .collect()
}
