//! Bucket operations and bucket settings over S3's REST API.

use base64::Engine;
use s3s::{S3Request, dto::*};

use super::{
    api::{Handled, open},
    convert::{acl_request, acl_to_dto, owner, refuse_unsupported_headers, timestamp},
};
use crate::{
    domain::{BucketRead, BucketSettingsChange, Objects},
    error::ObjectError,
    model::{DefaultEncryption, PublicAccessBlock, SseAlgorithm},
};

pub async fn create_bucket(
    objects: &Objects,
    req: S3Request<CreateBucketInput>,
) -> Handled<CreateBucketOutput> {
    let (call, requester) = open(&req);
    let result = async {
        refuse_unsupported_headers(&req.headers)?;
        let input = req.input;
        let constraint = input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
            .map(|c| c.as_str().to_owned())
            .filter(|c| !c.is_empty());
        if let Some(constraint) = constraint
            && constraint != objects.region()
        {
            return Err(ObjectError::IllegalLocationConstraint(constraint));
        }
        let ownership = input
            .object_ownership
            .as_ref()
            .map(|o| o.as_str())
            .unwrap_or_default();
        let acl = input.acl.as_ref().map(|a| a.as_str()).unwrap_or_default();
        let bucket = objects
            .create_bucket(&requester, &input.bucket, ownership, acl)
            .await?;
        Ok(CreateBucketOutput {
            location: Some(format!("/{}", bucket.name)),
        })
    }
    .await;
    call.respond(result)
}

pub async fn delete_bucket(
    objects: &Objects,
    req: S3Request<DeleteBucketInput>,
) -> Handled<DeleteBucketOutput> {
    let (call, requester) = open(&req);
    let result = objects.delete_bucket(&requester, &req.input.bucket).await;
    call.respond(result.map(|()| DeleteBucketOutput::default()))
}

pub async fn head_bucket(
    objects: &Objects,
    req: S3Request<HeadBucketInput>,
) -> Handled<HeadBucketOutput> {
    let (call, requester) = open(&req);
    let result = objects
        .bucket_to_read(&requester, &req.input.bucket, BucketRead::Head)
        .await
        .map(|_| HeadBucketOutput {
            bucket_region: Some(objects.region().to_owned()),
            ..Default::default()
        });
    call.respond(result)
}

/// GetBucketLocation: no LocationConstraint in us-east-1, as S3 answers there.
pub async fn get_bucket_location(
    objects: &Objects,
    req: S3Request<GetBucketLocationInput>,
) -> Handled<GetBucketLocationOutput> {
    let (call, requester) = open(&req);
    let region = objects.region();
    let result = objects
        .bucket_to_read(&requester, &req.input.bucket, BucketRead::Location)
        .await
        .map(|_| GetBucketLocationOutput {
            location_constraint: (region != "us-east-1")
                .then(|| BucketLocationConstraint::from(region.to_owned())),
        });
    call.respond(result)
}

/// ListBuckets, with S3's optional paging: `prefix`, `max-buckets` (1 to 10000) and
/// an opaque `continuation-token`.
pub async fn list_buckets(
    objects: &Objects,
    req: S3Request<ListBucketsInput>,
) -> Handled<ListBucketsOutput> {
    let (call, requester) = open(&req);
    let input = req.input;
    let result = async {
        let page = match input.max_buckets {
            None => None,
            Some(n @ 1..=10_000) => Some(n as usize),
            Some(n) => {
                return Err(ObjectError::InvalidArgument {
                    message: "Argument max-buckets must be an integer between 1 and 10000"
                        .to_owned(),
                    argument_name: Some("max-buckets".to_owned()),
                    argument_value: Some(n.to_string()),
                });
            }
        };
        let after = match input.continuation_token.as_deref() {
            None | Some("") => None,
            Some(token) => Some(decode_bucket_token(token)?),
        };
        let prefix = input.prefix.clone().unwrap_or_default();
        let mut buckets = objects.list_buckets(&requester).await?;
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        let mut listed: Vec<_> = buckets
            .into_iter()
            .filter(|b| b.name.starts_with(&prefix))
            .filter(|b| after.as_ref().is_none_or(|after| &b.name > after))
            .collect();
        let next = match page {
            Some(page) if listed.len() > page => {
                listed.truncate(page);
                listed.last().map(|b| encode_bucket_token(&b.name))
            }
            _ => None,
        };
        Ok(ListBucketsOutput {
            buckets: Some(
                listed
                    .iter()
                    .map(|bucket| Bucket {
                        bucket_region: Some(objects.region().to_owned()),
                        creation_date: Some(timestamp(bucket.created_at)),
                        name: Some(bucket.name.clone()),
                    })
                    .collect(),
            ),
            owner: Some(owner(objects.account_id())),
            continuation_token: next,
            prefix: input.prefix,
        })
    }
    .await;
    call.respond(result)
}

fn encode_bucket_token(name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name)
}

fn decode_bucket_token(token: &str) -> Result<String, ObjectError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| ObjectError::InvalidArgument {
            message: "The continuation token provided is incorrect".to_owned(),
            argument_name: Some("continuation-token".to_owned()),
            argument_value: Some(token.to_owned()),
        })
}

pub async fn get_bucket_encryption(
    objects: &Objects,
    req: S3Request<GetBucketEncryptionInput>,
) -> Handled<GetBucketEncryptionOutput> {
    let (call, requester) = open(&req);
    let result = objects
        .bucket_to_read(&requester, &req.input.bucket, BucketRead::Encryption)
        .await
        .map(|bucket| GetBucketEncryptionOutput {
            server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration {
                rules: vec![ServerSideEncryptionRule {
                    apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                        kms_master_key_id: bucket.encryption.kms_master_key_id.clone(),
                        sse_algorithm: ServerSideEncryption::from(
                            bucket.encryption.algorithm.as_str().to_owned(),
                        ),
                    }),
                    bucket_key_enabled: Some(bucket.encryption.bucket_key_enabled),
                }],
            }),
        });
    call.respond(result)
}

pub async fn put_bucket_encryption(
    objects: &Objects,
    req: S3Request<PutBucketEncryptionInput>,
) -> Handled<PutBucketEncryptionOutput> {
    let (call, requester) = open(&req);
    let result = async {
        let input = req.input;
        let malformed = || {
            ObjectError::invalid_argument(
                "The server side encryption configuration needs exactly one rule with ApplyServerSideEncryptionByDefault",
            )
        };
        let [rule] = input.server_side_encryption_configuration.rules.as_slice() else {
            return Err(malformed());
        };
        let default = rule
            .apply_server_side_encryption_by_default
            .as_ref()
            .ok_or_else(malformed)?;
        let algorithm = SseAlgorithm::parse(default.sse_algorithm.as_str()).ok_or_else(|| {
            ObjectError::invalid_argument("The encryption method specified is not supported")
        })?;
        let encryption = DefaultEncryption {
            algorithm,
            kms_master_key_id: default.kms_master_key_id.clone().filter(|k| !k.is_empty()),
            bucket_key_enabled: rule.bucket_key_enabled.unwrap_or(false),
        };
        objects
            .change_bucket(
                &requester,
                &input.bucket,
                BucketSettingsChange::Encryption(Some(encryption)),
            )
            .await?;
        Ok(PutBucketEncryptionOutput::default())
    }
    .await;
    call.respond(result)
}

pub async fn delete_bucket_encryption(
    objects: &Objects,
    req: S3Request<DeleteBucketEncryptionInput>,
) -> Handled<DeleteBucketEncryptionOutput> {
    let (call, requester) = open(&req);
    let result = objects
        .change_bucket(
            &requester,
            &req.input.bucket,
            BucketSettingsChange::Encryption(None),
        )
        .await;
    call.respond(result.map(|_| DeleteBucketEncryptionOutput::default()))
}

pub async fn get_public_access_block(
    objects: &Objects,
    req: S3Request<GetPublicAccessBlockInput>,
) -> Handled<GetPublicAccessBlockOutput> {
    let (call, requester) = open(&req);
    let result = async {
        let block = objects
            .public_access_block(&requester, &req.input.bucket)
            .await?;
        Ok(GetPublicAccessBlockOutput {
            public_access_block_configuration: Some(PublicAccessBlockConfiguration {
                block_public_acls: Some(block.block_public_acls),
                block_public_policy: Some(block.block_public_policy),
                ignore_public_acls: Some(block.ignore_public_acls),
                restrict_public_buckets: Some(block.restrict_public_buckets),
            }),
        })
    }
    .await;
    call.respond(result)
}

pub async fn put_public_access_block(
    objects: &Objects,
    req: S3Request<PutPublicAccessBlockInput>,
) -> Handled<PutPublicAccessBlockOutput> {
    let (call, requester) = open(&req);
    let configuration = &req.input.public_access_block_configuration;
    // S3 takes a missing flag as false.
    let block = PublicAccessBlock {
        block_public_acls: configuration.block_public_acls.unwrap_or(false),
        ignore_public_acls: configuration.ignore_public_acls.unwrap_or(false),
        block_public_policy: configuration.block_public_policy.unwrap_or(false),
        restrict_public_buckets: configuration.restrict_public_buckets.unwrap_or(false),
    };
    let result = objects
        .change_bucket(
            &requester,
            &req.input.bucket,
            BucketSettingsChange::PublicAccessBlock(Some(block)),
        )
        .await;
    call.respond(result.map(|_| PutPublicAccessBlockOutput::default()))
}

pub async fn delete_public_access_block(
    objects: &Objects,
    req: S3Request<DeletePublicAccessBlockInput>,
) -> Handled<DeletePublicAccessBlockOutput> {
    let (call, requester) = open(&req);
    let result = objects
        .change_bucket(
            &requester,
            &req.input.bucket,
            BucketSettingsChange::PublicAccessBlock(None),
        )
        .await;
    call.respond(result.map(|_| DeletePublicAccessBlockOutput::default()))
}

pub async fn get_bucket_ownership_controls(
    objects: &Objects,
    req: S3Request<GetBucketOwnershipControlsInput>,
) -> Handled<GetBucketOwnershipControlsOutput> {
    let (call, requester) = open(&req);
    let result = objects
        .bucket_to_read(&requester, &req.input.bucket, BucketRead::Ownership)
        .await
        .map(|bucket| GetBucketOwnershipControlsOutput {
            ownership_controls: Some(OwnershipControls {
                rules: vec![OwnershipControlsRule {
                    object_ownership: ObjectOwnership::from(bucket.ownership.as_str().to_owned()),
                }],
            }),
        });
    call.respond(result)
}

pub async fn put_bucket_ownership_controls(
    objects: &Objects,
    req: S3Request<PutBucketOwnershipControlsInput>,
) -> Handled<PutBucketOwnershipControlsOutput> {
    let (call, requester) = open(&req);
    let result = async {
        let rules = &req.input.ownership_controls.rules;
        let ownership = match rules.as_slice() {
            [rule] => crate::model::ObjectOwnership::parse(rule.object_ownership.as_str()),
            _ => None,
        }
        .ok_or_else(|| {
            ObjectError::invalid_argument(
                "OwnershipControls needs exactly one rule: BucketOwnerEnforced, BucketOwnerPreferred or ObjectWriter",
            )
        })?;
        objects
            .change_bucket(
                &requester,
                &req.input.bucket,
                BucketSettingsChange::Ownership(ownership),
            )
            .await?;
        Ok(PutBucketOwnershipControlsOutput::default())
    }
    .await;
    call.respond(result)
}

pub async fn get_bucket_acl(
    objects: &Objects,
    req: S3Request<GetBucketAclInput>,
) -> Handled<GetBucketAclOutput> {
    let (call, requester) = open(&req);
    let result = objects
        .bucket_to_read(&requester, &req.input.bucket, BucketRead::Acl)
        .await
        .map(|bucket| {
            let (owner, grants) = acl_to_dto(&Objects::effective_bucket_acl(&bucket));
            GetBucketAclOutput {
                grants: Some(grants),
                owner: Some(owner),
            }
        });
    call.respond(result)
}

pub async fn put_bucket_acl(
    objects: &Objects,
    req: S3Request<PutBucketAclInput>,
) -> Handled<PutBucketAclOutput> {
    let (call, requester) = open(&req);
    let result = async {
        let input = req.input;
        let acl = acl_request(
            objects,
            &req.headers,
            input.acl.as_ref().map(|a| a.as_str()),
            input.access_control_policy,
        )?;
        objects
            .change_bucket(&requester, &input.bucket, BucketSettingsChange::Acl(acl))
            .await?;
        Ok(PutBucketAclOutput::default())
    }
    .await;
    call.respond(result)
}

pub async fn put_bucket_policy(
    objects: &Objects,
    req: S3Request<PutBucketPolicyInput>,
) -> Handled<PutBucketPolicyOutput> {
    let (call, requester) = open(&req);
    let input = req.input;
    // CloudTrail shows the document itself, as JSON when it is JSON.
    let shown = serde_json::from_str(&input.policy)
        .unwrap_or_else(|_| serde_json::Value::String(input.policy.clone()));
    call.update(|state| state.body_parameter = Some(("bucketPolicy", shown)));
    let result = objects
        .put_bucket_policy(&requester, &input.bucket, &input.policy)
        .await;
    call.respond(result.map(|()| PutBucketPolicyOutput::default()))
}

pub async fn get_bucket_policy(
    objects: &Objects,
    req: S3Request<GetBucketPolicyInput>,
) -> Handled<GetBucketPolicyOutput> {
    let (call, requester) = open(&req);
    let result = objects
        .bucket_policy(&requester, &req.input.bucket)
        .await
        .map(|policy| GetBucketPolicyOutput {
            policy: Some(policy),
        });
    call.respond(result)
}

pub async fn delete_bucket_policy(
    objects: &Objects,
    req: S3Request<DeleteBucketPolicyInput>,
) -> Handled<DeleteBucketPolicyOutput> {
    let (call, requester) = open(&req);
    let result = objects
        .delete_bucket_policy(&requester, &req.input.bucket)
        .await;
    call.respond(result.map(|()| DeleteBucketPolicyOutput::default()))
}

pub async fn get_bucket_policy_status(
    objects: &Objects,
    req: S3Request<GetBucketPolicyStatusInput>,
) -> Handled<GetBucketPolicyStatusOutput> {
    let (call, requester) = open(&req);
    let result = objects
        .bucket_policy_status(&requester, &req.input.bucket)
        .await
        .map(|status| GetBucketPolicyStatusOutput {
            policy_status: Some(PolicyStatus {
                is_public: Some(status.is_public),
            }),
        });
    call.respond(result)
}
