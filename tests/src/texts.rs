//! The exact texts of S3's errors (and the names they quote) that the tests compare
//! with, in one place.

pub const ACCESS_DENIED: &str = "Access Denied";
pub const NO_SUCH_BUCKET: &str = "The specified bucket does not exist";
pub const NO_SUCH_KEY: &str = "The specified key does not exist.";
pub const INVALID_BUCKET_NAME: &str = "The specified bucket is not valid.";
pub const ACLS_NOT_SUPPORTED: &str = "The bucket does not allow ACLs";
pub const NOT_SUPPORTED: &str = "The encryption method specified is not supported";
pub const KMS_NEEDS_HEADER: &str = "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms";
pub const BAD_CONTEXT: &str = "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map";
pub const PRECONDITION_FAILED: &str =
    "At least one of the pre-conditions you specified did not hold";
pub const INVALID_RANGE: &str = "The requested range is not satisfiable";

/// The prefix of every KMS key ARN of the test account and region.
pub const KMS_ARN_PREFIX: &str = "arn:aws:kms:us-east-1:000000000000";
/// The grantee URI of S3's AllUsers group (public access).
pub const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";

/// The object both test areas write: its bytes, and its MD5 as an ETag (SSE-S3
/// objects' ETag) and as Content-MD5 sends it.
pub const FOX: &[u8] = b"The quick brown fox jumps over the lazy dog";
pub const MD5_FOX: &str = "\"9e107d9d372bb6826bd81d3542a419d6\"";
pub const FOX_MD5_BASE64: &str = "nhB9nTcrtoJr2B01QqQZ1g==";
/// The MD5 of no bytes, as an ETag.
pub const MD5_EMPTY: &str = "\"d41d8cd98f00b204e9800998ecf8427e\"";

/// KMS's refusal of a Decrypt by a user the key policy does not allow.
pub fn decrypt_denied(user_arn: &str, key_arn: &str) -> String {
    format!(
        "User: {user_arn} is not authorized to perform: kms:Decrypt on resource: {key_arn} because no resource-based policy allows the kms:Decrypt action"
    )
}
