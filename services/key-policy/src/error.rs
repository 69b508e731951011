/// Why a policy document was refused. The two variants map to different AWS
/// exceptions, which is the only reason they are distinguished.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PolicyError {
    /// Over [`MAX_POLICY_BYTES`](crate::MAX_POLICY_BYTES), checked on the UTF-8 length
    /// before parsing. AWS reports this as a `ValidationException`, not as a malformed
    /// policy, because the API model constrains the field's length.
    #[error(
        "1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to 32768"
    )]
    TooLarge,
    /// Anything else wrong: AWS's `MalformedPolicyDocumentException`, with this message.
    #[error("{0}")]
    Malformed(String),
}

impl PolicyError {
    pub(crate) fn malformed(message: impl Into<String>) -> PolicyError {
        PolicyError::Malformed(message.into())
    }
}
