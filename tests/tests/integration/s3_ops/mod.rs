//! object-svc's S3 REST endpoint operation by operation, with the official AWS SDK for
//! Rust as the signed user and a plain HTTP client where a browser or curl would be:
//! buckets and their settings, object writes and reads of awkward sizes, ranges,
//! conditions, deletes, listings, copies, ACLs, the SSE headers and KMS refusals, and
//! the S3 error document every refusal comes with. object_api.rs and object_errors.rs
//! cover the same domain over gRPC.

use std::{collections::HashMap, time::Duration};

use aws_sdk_s3::{
    Client,
    config::http::HttpResponse,
    error::SdkError,
    operation::get_object::GetObjectOutput,
    primitives::{ByteStream, DateTime},
    types::{
        BucketCannedAcl, Delete, ObjectCannedAcl, ObjectIdentifier, ObjectOwnership, Permission,
        PublicAccessBlockConfiguration, ServerSideEncryption,
    },
};
use base64::Engine;
use keyhold_proto::kms::v1 as kms;
use keyhold_tests::{
    ObjectHarness, Who,
    kms::ACCOUNT,
    s3::{http, xml_field},
    s3_sdk::*,
    seeded_bytes,
    setup::user_key,
    texts::*,
};

const BUCKET: &str = "ops-bucket";
const OTHER: &str = "ops-other";

mod acls;
mod buckets;
mod copy_object;
mod deletes;
mod error_documents;
mod fixed_differences;
mod listings;
mod objects;
mod sse;

/// A harness, User1's SDK client and BUCKET (all defaults).
async fn start() -> (ObjectHarness, Client) {
    keyhold_tests::s3_sdk::start(BUCKET).await
}
