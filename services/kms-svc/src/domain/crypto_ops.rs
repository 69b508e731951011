//! The cryptographic operations. Plaintext only ever lives in zeroized buffers; the
//! encryption context is bound as AAD, so Decrypt needs exactly the same pairs.

use keyhold_crypto::{
    BlobHeader, EncryptionContext, open_blob, random_bytes, read_blob_header, seal_blob,
};
use zeroize::Zeroizing;

use super::{Call, Kms, require_enabled};
use crate::{
    authz::{check_without_key, condition_context},
    error::{KmsError, KmsResult},
    key_ref::KeyRef,
    model::{Key, KeyWithMaterial},
    validate,
};

pub const INVALID_CIPHERTEXT: &str = "The ciphertext is invalid, was not made by this service, or the encryption context differs from the one used to encrypt it.";

fn invalid_ciphertext() -> KmsError {
    KmsError::InvalidCiphertext(INVALID_CIPHERTEXT.into())
}

/// The result of Decrypt: who made the blob, and its plaintext.
pub struct Decrypted {
    pub key: Key,
    pub plaintext: Zeroizing<Vec<u8>>,
}

pub struct DataKey {
    pub key: Key,
    pub plaintext: Zeroizing<Vec<u8>>,
    pub ciphertext_blob: Vec<u8>,
}

/// What a reference to `alias/aws/s3` that names no key yet does: S3's first use, by
/// Encrypt or GenerateDataKey*, creates that AWS managed key; other calls find no key.
#[derive(Clone, Copy)]
enum FirstUse {
    CreatesManagedKey,
    NotFound,
}

impl Kms {
    pub async fn encrypt(
        &self,
        call: Call<'_>,
        key_id: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> KmsResult<(Vec<u8>, Key)> {
        validate::plaintext(plaintext)?;
        let found = self
            .usable_key(
                call,
                key_id,
                "kms:Encrypt",
                context,
                FirstUse::CreatesManagedKey,
            )
            .await?;
        let blob = self.seal(&found, context, plaintext)?;
        Ok((blob, found.key))
    }

    pub async fn decrypt(
        &self,
        call: Call<'_>,
        blob: &[u8],
        context: &EncryptionContext,
        key_id: &str,
    ) -> KmsResult<Decrypted> {
        self.open(call, blob, context, key_id, "kms:Decrypt").await
    }

    /// Decrypts under the source key and encrypts under the destination key without
    /// the plaintext leaving the service.
    pub async fn re_encrypt(
        &self,
        call: Call<'_>,
        blob: &[u8],
        source_context: &EncryptionContext,
        source_key_id: &str,
        destination_key_id: &str,
        destination_context: &EncryptionContext,
    ) -> KmsResult<(Vec<u8>, Key, Key)> {
        let source = self
            .open(
                call,
                blob,
                source_context,
                source_key_id,
                "kms:ReEncryptFrom",
            )
            .await?;
        let destination = self
            .usable_key(
                call,
                destination_key_id,
                "kms:ReEncryptTo",
                destination_context,
                FirstUse::NotFound,
            )
            .await?;
        let sealed = self.seal(&destination, destination_context, &source.plaintext)?;
        Ok((sealed, source.key, destination.key))
    }

    /// GenerateDataKey and GenerateDataKeyWithoutPlaintext: `action` says which
    /// permission applies; the caller drops the plaintext for the latter.
    pub async fn generate_data_key(
        &self,
        call: Call<'_>,
        key_id: &str,
        context: &EncryptionContext,
        key_spec: &str,
        number_of_bytes: i32,
        action: &str,
    ) -> KmsResult<DataKey> {
        let size = validate::data_key_size(key_spec, number_of_bytes)?;
        let found = self
            .usable_key(call, key_id, action, context, FirstUse::CreatesManagedKey)
            .await?;
        let plaintext = random_bytes(size);
        let ciphertext_blob = self.seal(&found, context, &plaintext)?;
        Ok(DataKey {
            key: found.key,
            plaintext,
            ciphertext_blob,
        })
    }

    pub async fn generate_random(
        &self,
        call: Call<'_>,
        number_of_bytes: i32,
    ) -> KmsResult<Zeroizing<Vec<u8>>> {
        let size = validate::number_of_bytes(number_of_bytes)?;
        let context = condition_context(call.caller, &self.partition.region, None);
        check_without_key(call.caller, "kms:GenerateRandom", &context)?;
        Ok(random_bytes(size))
    }

    /// The key named by `key_id` with its current material, once the caller may
    /// perform `action` with this encryption context and the key is Enabled.
    async fn usable_key(
        &self,
        call: Call<'_>,
        key_id: &str,
        action: &str,
        context: &EncryptionContext,
        first_use: FirstUse,
    ) -> KmsResult<KeyWithMaterial> {
        let key_ref = self.partition.parse_key_ref(key_id)?;
        let found = match first_use {
            FirstUse::CreatesManagedKey => {
                self.load_key_with_material_or_first_use(call, &key_ref)
                    .await?
            }
            FirstUse::NotFound => self
                .load_key_with_material(call, &key_ref, None)
                .await?
                .ok_or_else(|| self.not_found(&key_ref))?,
        };
        self.check_usable(call, found, action, context)
    }

    fn check_usable(
        &self,
        call: Call<'_>,
        found: KeyWithMaterial,
        action: &str,
        context: &EncryptionContext,
    ) -> KmsResult<KeyWithMaterial> {
        self.authorize_with_context(call, &found.key, action, context)?;
        require_enabled(&found.key)?;
        Ok(found)
    }

    async fn open(
        &self,
        call: Call<'_>,
        blob: &[u8],
        context: &EncryptionContext,
        key_id: &str,
        action: &str,
    ) -> KmsResult<Decrypted> {
        validate::ciphertext_blob(blob)?;
        let header = read_blob_header(blob).map_err(|_| invalid_ciphertext())?;
        if !key_id.is_empty() {
            self.check_blob_key(key_id, &header).await?;
        }
        let version = i32::try_from(header.material_version).map_err(|_| invalid_ciphertext())?;
        // A blob naming no key of ours is a bad blob, whatever bytes were changed.
        let found = self
            .load_key_with_material(call, &KeyRef::Id(header.key_id), Some(version))
            .await?
            .ok_or_else(invalid_ciphertext)?;
        self.authorize_with_context(call, &found.key, action, context)?;
        require_enabled(&found.key)?;
        let material = self.unwrap_material(&found)?;
        let plaintext = open_blob(&material, blob, context).map_err(|_| invalid_ciphertext())?;
        Ok(Decrypted {
            key: found.key,
            plaintext,
        })
    }

    /// Decrypt's optional KeyId must name the key that made the blob.
    async fn check_blob_key(&self, key_id: &str, header: &BlobHeader) -> KmsResult<()> {
        let named = match self.partition.parse_key_ref(key_id)? {
            KeyRef::Id(id) => id,
            alias @ KeyRef::Alias(_) => {
                self.store
                    .find_key(&alias)
                    .await?
                    .ok_or_else(|| self.not_found(&alias))?
                    .key_id
            }
        };
        if named == header.key_id {
            Ok(())
        } else {
            Err(KmsError::IncorrectKey)
        }
    }

    fn seal(
        &self,
        found: &KeyWithMaterial,
        context: &EncryptionContext,
        plaintext: &[u8],
    ) -> KmsResult<Vec<u8>> {
        let material = self.unwrap_material(found)?;
        let header = BlobHeader {
            key_id: found.key.key_id,
            material_version: found.material_version as u32,
        };
        Ok(seal_blob(&material, header, context, plaintext))
    }

    fn authorize_with_context(
        &self,
        call: Call<'_>,
        key: &Key,
        action: &str,
        context: &EncryptionContext,
    ) -> KmsResult<()> {
        let conditions = condition_context(call.caller, &self.partition.region, Some(context));
        self.policies.check(call.caller, key, action, &conditions)
    }
}
