//! The region's digest signing key pairs: RSA-2048, SHA256withRSA (PKCS#1 v1.5), one
//! pair per validity period (30 days by default, as CloudTrail's public keys are). The
//! private keys are sealed with audit-svc's master key before they reach Postgres.
//!
//! A digest is signed with the pair valid at its digestEndTime, so a validator finds
//! the key from the digest alone. A pair is made on first need for a time no pair
//! covers; periods never overlap, which an advisory lock keeps true across replicas.

use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::{
    encoding::AsDer as _,
    rsa::{KeyPair, KeySize},
    signature::{self, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, UnparsedPublicKey},
};
use chrono::{DateTime, TimeDelta, Utc};
use keyhold_crypto::MasterKey;
use md5::{Digest as _, Md5};
use sqlx::{PgPool, Row as _};
use zeroize::Zeroizing;

use super::DigestError;

/// CloudTrail's public keys are valid for 30 days.
pub const DEFAULT_KEY_VALIDITY: TimeDelta = TimeDelta::days(30);

/// Sealing label, so nothing else the master key seals passes for a digest key.
const WRAP_LABEL: &[u8] = b"keyhold/cloudtrail-digest-key";

/// A public key as ListPublicKeys returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// DER RSAPublicKey (PKCS#1), which CloudTrail's validators load.
    pub value: Vec<u8>,
    pub validity_start: DateTime<Utc>,
    pub validity_end: DateTime<Utc>,
    pub fingerprint: String,
}

impl PublicKey {
    pub fn is_valid_at(&self, time: DateTime<Utc>) -> bool {
        self.validity_start <= time && time < self.validity_end
    }
}

/// CloudTrail's fingerprint of a public key: the hex MD5 of its DER RSAPublicKey.
pub fn fingerprint(public_key_der: &[u8]) -> String {
    hex::encode(Md5::digest(public_key_der))
}

/// Whether `signature_hex` is `public_key_der`'s SHA256withRSA signature of `message`.
pub fn verify(public_key_der: &[u8], message: &[u8], signature_hex: &str) -> bool {
    let Ok(signature) = hex::decode(signature_hex) else {
        return false;
    };
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key_der)
        .verify(message, &signature)
        .is_ok()
}

/// A key pair able to sign, with its public half.
pub struct SigningKey {
    pub public: PublicKey,
    pair: KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new RSA-2048 pair valid over [from, to). Takes tens of milliseconds.
    pub fn generate(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<SigningKey, DigestError> {
        let pair = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| DigestError::Keys("cannot generate an RSA key pair".into()))?;
        Ok(Self::from_pair(pair, from, to))
    }

    fn from_pair(pair: KeyPair, from: DateTime<Utc>, to: DateTime<Utc>) -> SigningKey {
        let value = signature::KeyPair::public_key(&pair).as_ref().to_vec();
        SigningKey {
            public: PublicKey {
                fingerprint: fingerprint(&value),
                value,
                validity_start: from,
                validity_end: to,
            },
            pair,
        }
    }

    /// The hex SHA256withRSA (PKCS#1 v1.5) signature of `message`.
    pub fn sign(&self, message: &[u8]) -> String {
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                message,
                &mut signature,
            )
            .expect("an RSA-2048 key signs a message");
        hex::encode(signature)
    }

    fn pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, DigestError> {
        let der = self
            .pair
            .as_der()
            .map_err(|_| DigestError::Keys("cannot encode the private key".into()))?;
        Ok(Zeroizing::new(der.as_ref().to_vec()))
    }
}

/// `label || u32 BE len(region) || region || fingerprint`.
fn wrap_aad(region: &str, fingerprint: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(WRAP_LABEL.len() + 4 + region.len() + fingerprint.len());
    aad.extend_from_slice(WRAP_LABEL);
    aad.extend_from_slice(&(region.len() as u32).to_be_bytes());
    aad.extend_from_slice(region.as_bytes());
    aad.extend_from_slice(fingerprint.as_bytes());
    aad
}

/// The signing keys of one region, over the database.
pub struct SigningKeys {
    pool: PgPool,
    master_key: MasterKey,
    region: String,
    validity: TimeDelta,
    /// The last key used: consecutive digests nearly always share it.
    current: Mutex<Option<Arc<SigningKey>>>,
}

impl SigningKeys {
    pub fn new(pool: PgPool, master_key: MasterKey, region: impl Into<String>) -> SigningKeys {
        Self::with_validity(pool, master_key, region, DEFAULT_KEY_VALIDITY)
    }

    pub fn with_validity(
        pool: PgPool,
        master_key: MasterKey,
        region: impl Into<String>,
        validity: TimeDelta,
    ) -> SigningKeys {
        SigningKeys {
            pool,
            master_key,
            region: region.into(),
            validity,
            current: Mutex::new(None),
        }
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// The key that signs digests ending at `time`, made if none covers it.
    pub async fn key_for(&self, time: DateTime<Utc>) -> Result<Arc<SigningKey>, DigestError> {
        let cached = self.lock_current().clone();
        if let Some(key) = cached.filter(|k| k.public.is_valid_at(time)) {
            return Ok(key);
        }
        let key = match self.load_at(time).await? {
            Some(key) => key,
            None => self.create_at(time).await?,
        };
        let key = Arc::new(key);
        *self.lock_current() = Some(key.clone());
        Ok(key)
    }

    fn lock_current(&self) -> std::sync::MutexGuard<'_, Option<Arc<SigningKey>>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn load_at(&self, time: DateTime<Utc>) -> Result<Option<SigningKey>, DigestError> {
        let row = sqlx::query(
            "SELECT fingerprint, public_key, wrapped_private_key, valid_from, valid_to \
             FROM digest_signing_keys WHERE region = $1 AND valid_from <= $2 AND $2 < valid_to",
        )
        .bind(&self.region)
        .bind(time)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let fingerprint: String = row.get("fingerprint");
            let wrapped: Vec<u8> = row.get("wrapped_private_key");
            let pkcs8 = self
                .master_key
                .unwrap(&wrapped, &wrap_aad(&self.region, &fingerprint))
                .map_err(|_| {
                    DigestError::Keys(format!(
                        "the digest signing key {fingerprint} does not open with this master key"
                    ))
                })?;
            let pair = KeyPair::from_pkcs8(&pkcs8).map_err(|_| {
                DigestError::Keys(format!("the digest signing key {fingerprint} is damaged"))
            })?;
            let key = SigningKey::from_pair(pair, row.get("valid_from"), row.get("valid_to"));
            if key.public.fingerprint != fingerprint {
                return Err(DigestError::Keys(format!(
                    "the digest signing key {fingerprint} does not match its public key"
                )));
            }
            Ok(key)
        })
        .transpose()
    }

    /// Makes the pair for `time`, valid for the configured period or until the next
    /// pair begins. Serialized per region, and checked again under the lock, so two
    /// writers never make overlapping pairs.
    async fn create_at(&self, time: DateTime<Utc>) -> Result<SigningKey, DigestError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended('digest_signing_keys/' || $1, 0))",
        )
        .bind(&self.region)
        .execute(&mut *tx)
        .await?;
        let covered: Option<String> = sqlx::query_scalar(
            "SELECT fingerprint FROM digest_signing_keys \
             WHERE region = $1 AND valid_from <= $2 AND $2 < valid_to",
        )
        .bind(&self.region)
        .bind(time)
        .fetch_optional(&mut *tx)
        .await?;
        if covered.is_some() {
            tx.rollback().await?;
            return self
                .load_at(time)
                .await?
                .ok_or_else(|| DigestError::Keys("a digest signing key vanished".into()));
        }
        let next_from: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT min(valid_from) FROM digest_signing_keys WHERE region = $1 AND valid_from > $2",
        )
        .bind(&self.region)
        .bind(time)
        .fetch_one(&mut *tx)
        .await?;
        let until = next_from.map_or(time + self.validity, |next| next.min(time + self.validity));
        let key = tokio::task::spawn_blocking(move || SigningKey::generate(time, until))
            .await
            .map_err(|e| DigestError::Keys(format!("key generation stopped: {e}")))??;
        let wrapped = self.master_key.wrap(
            &key.pkcs8()?,
            &wrap_aad(&self.region, &key.public.fingerprint),
        );
        sqlx::query(
            "INSERT INTO digest_signing_keys \
             (fingerprint, region, public_key, wrapped_private_key, valid_from, valid_to) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.public.fingerprint)
        .bind(&self.region)
        .bind(&key.public.value)
        .bind(&wrapped)
        .bind(key.public.validity_start)
        .bind(key.public.validity_end)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(key)
    }

    /// Ends the pair that is valid at `now` there, so digests ending from `now` on are
    /// signed by a new pair (made when first needed). Returns the retired fingerprint.
    pub async fn rotate(&self, now: DateTime<Utc>) -> Result<Option<String>, DigestError> {
        let retired: Option<String> = sqlx::query_scalar(
            "UPDATE digest_signing_keys SET valid_to = $2 \
             WHERE region = $1 AND valid_from < $2 AND $2 < valid_to RETURNING fingerprint",
        )
        .bind(&self.region)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        *self.lock_current() = None;
        Ok(retired)
    }

    /// ListPublicKeys: the public keys valid at some time in [start, end], oldest first.
    pub async fn list_public_keys(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<PublicKey>, DigestError> {
        list_public_keys(&self.pool, &self.region, start, end).await
    }
}

/// ListPublicKeys over `pool` for `region`: the public keys valid at some time in
/// [start, end] (their whole validity, as CloudTrail returns it), oldest first.
pub async fn list_public_keys(
    pool: &PgPool,
    region: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<PublicKey>, DigestError> {
    let rows = sqlx::query(
        "SELECT fingerprint, public_key, valid_from, valid_to FROM digest_signing_keys \
         WHERE region = $1 AND valid_from <= $3 AND valid_to > $2 ORDER BY valid_from",
    )
    .bind(region)
    .bind(start)
    .bind(end)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|row| PublicKey {
            value: row.get("public_key"),
            validity_start: row.get("valid_from"),
            validity_end: row.get("valid_to"),
            fingerprint: row.get("fingerprint"),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    #[test]
    fn the_fingerprint_is_cloudtrails() {
        // The public key and fingerprint of AWS's own ListPublicKeys example.
        let value = base64::engine::general_purpose::STANDARD
            .decode(concat!(
                "MIIBCgKCAQEAlSS3cl92HDycr/MTj0moOhas8habjrraXw+KzlWF0axSI2tcF+3iJ9BKQAVSKxGwxwu3",
                "m0wG3J+kUl1xboEcEPHYoIYMbgfSw7KGnuDKwkLzsQWhUJ0cIbOHASox1vv/5fNXkrHhGbDCHeVXm804",
                "c83nvHUEFYThr1PfyP/8HwrCtR3FX5OANtQCP61C1nJtSSkC8JSQUOrIP4CuwJjc+4WGDk+BGH5m9iui",
                "AKkipEHWmUl8/P7XpfpWQuk4h8g3pXZOrNXr08lbh4d39svj7UqdhvOXoBISp9t/EXYuePGEtBdrKD9D",
                "z+VHwyUPtBQvYr9BnkF88qBnaPNhS44rzwIDAQAB",
            ))
            .unwrap();
        assert_eq!(fingerprint(&value), "7f3f401420072e50a65a141430817ab3");
    }

    fn window() -> (DateTime<Utc>, DateTime<Utc>) {
        let from = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        (from, from + DEFAULT_KEY_VALIDITY)
    }

    #[test]
    fn a_signature_verifies_with_its_public_key_and_nothing_else() {
        let (from, to) = window();
        let key = SigningKey::generate(from, to).unwrap();
        let other = SigningKey::generate(from, to).unwrap();
        let message = b"2026-01-01T01:00:00Z\nbucket/key\nabc\nnull";
        let signature = key.sign(message);
        assert_eq!(signature.len(), 512, "2048 bits in hex");
        assert!(verify(&key.public.value, message, &signature));
        assert!(!verify(&other.public.value, message, &signature));
        assert!(!verify(
            &key.public.value,
            b"2026-01-01T01:00:01Z",
            &signature
        ));
        let mut flipped = hex::decode(&signature).unwrap();
        flipped[100] ^= 1;
        assert!(!verify(&key.public.value, message, &hex::encode(flipped)));
        assert!(!verify(&key.public.value, message, "not hex"));
        // The value is a DER RSAPublicKey (SEQUENCE, then the modulus INTEGER), which
        // is what CloudTrail's ListPublicKeys hands out; its fingerprint is its MD5.
        assert_eq!(&key.public.value[..2], &[0x30, 0x82]);
        assert_eq!(key.public.value[4], 0x02);
        assert_eq!(key.public.fingerprint, fingerprint(&key.public.value));
    }

    #[test]
    fn a_sealed_private_key_opens_only_on_its_own_row() {
        let (from, to) = window();
        let key = SigningKey::generate(from, to).unwrap();
        let master = MasterKey::generate();
        let aad = wrap_aad("us-east-1", &key.public.fingerprint);
        let pkcs8 = key.pkcs8().unwrap();
        let wrapped = master.wrap(&pkcs8, &aad);
        assert!(
            !wrapped
                .windows(32)
                .any(|w| pkcs8.windows(32).any(|p| p == w)),
            "no run of the private key is stored in clear"
        );
        let opened = master.unwrap(&wrapped, &aad).unwrap();
        let pair = KeyPair::from_pkcs8(&opened).unwrap();
        let reopened = SigningKey::from_pair(pair, from, to);
        assert_eq!(reopened.public, key.public);
        assert!(
            master
                .unwrap(&wrapped, &wrap_aad("us-west-2", &key.public.fingerprint))
                .is_err()
        );
        assert!(MasterKey::generate().unwrap(&wrapped, &aad).is_err());
    }
}
