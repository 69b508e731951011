-- Log file integrity validation (CloudTrail digest files): the region's signing key
-- pairs and each trail's digest chain.

-- One RSA-2048 key pair per validity period. A digest is signed with the key whose
-- [valid_from, valid_to) holds its digestEndTime, so a validator picks the key by the
-- digest's own time; the periods of a region never overlap (the writer creates a key
-- only for a time no key covers, cut short where the next key begins).
CREATE TABLE digest_signing_keys (
    -- Hex MD5 of the DER RSAPublicKey, as CloudTrail's ListPublicKeys Fingerprint.
    fingerprint         TEXT PRIMARY KEY,
    region              TEXT NOT NULL,
    -- DER RSAPublicKey (PKCS#1), ListPublicKeys' Value.
    public_key          BYTEA NOT NULL,
    -- The PKCS#8 private key sealed with audit-svc's master key (AES-256-GCM; the
    -- associated data names the region and fingerprint, so a row's key cannot be
    -- moved onto another row).
    wrapped_private_key BYTEA NOT NULL,
    valid_from          TIMESTAMPTZ NOT NULL,
    valid_to            TIMESTAMPTZ NOT NULL,
    CHECK (valid_from < valid_to)
);

CREATE INDEX digest_signing_keys_by_time ON digest_signing_keys (region, valid_from);

-- Where each trail's chain of digests stands, so that a restarted audit-svc writes
-- the next window and links it to the last digest written.
CREATE TABLE digest_chains (
    trail_arn        TEXT PRIMARY KEY,
    -- When validation (with logging) started for this chain; a trail whose start time
    -- differs begins a new chain, whose first digest has null previousDigest* fields.
    chain_started_at TIMESTAMPTZ NOT NULL,
    -- digestStartTime of the next digest: the last digestEndTime, or chain_started_at.
    next_start       TIMESTAMPTZ NOT NULL,
    -- The last digest written (all null before the first one).
    last_bucket      TEXT,
    last_key         TEXT,
    -- Hex SHA-256 of its uncompressed bytes, and its hex signature.
    last_hash        TEXT,
    last_signature   TEXT,
    CHECK ((last_key IS NULL) = (last_signature IS NULL))
);
