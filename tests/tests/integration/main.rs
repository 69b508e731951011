//! Every cross-service test of keyhold, as one test binary: each module was a test
//! file of its own, and linking one binary instead of many keeps builds small and fast.

mod audit_events;
mod authorization_matrix;
mod aws_boto3;
mod aws_cli_cloudtrail;
mod aws_cli_kms;
mod aws_json_protocol;
mod aws_managed_key;
mod aws_models;
mod aws_sdk_kms;
mod bad_input;
mod conditions;
mod connection_limits;
mod database_tls;
mod kms_limits;
mod lab;
mod lifecycle;
mod metrics;
mod object_api;
mod object_audit;
mod object_errors;
mod object_lab;
mod object_limits;
mod object_storage;
mod runtime;
mod s3_auth;
mod s3_authorization;
mod s3_cli;
mod s3_lab;
mod s3_multipart;
mod s3_ops;
mod s3_parsers;
mod s3_protocol;
mod s3_records;
mod tls;
mod trails;
