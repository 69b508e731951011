-- object-svc's own database: buckets, object metadata (the bytes live in the blob
-- store), and the blobs that may be in the blob store without an object row.

-- Keys and names compare by the bytes of their UTF-8 (COLLATE "C"), as in S3.
CREATE TABLE buckets (
    name                    TEXT COLLATE "C" PRIMARY KEY,
    account_id              TEXT NOT NULL,
    created_at              TIMESTAMPTZ NOT NULL,
    sse_algorithm           TEXT NOT NULL CHECK (sse_algorithm IN ('AES256', 'aws:kms')),
    kms_master_key_id       TEXT,
    bucket_key_enabled      BOOLEAN NOT NULL,
    -- Block Public Access: all four NULL when there is no configuration.
    block_public_acls       BOOLEAN,
    ignore_public_acls      BOOLEAN,
    block_public_policy     BOOLEAN,
    restrict_public_buckets BOOLEAN,
    ownership               TEXT NOT NULL
        CHECK (ownership IN ('BucketOwnerEnforced', 'BucketOwnerPreferred', 'ObjectWriter')),
    acl                     JSONB NOT NULL,
    CHECK (num_nulls(block_public_acls, ignore_public_acls, block_public_policy,
                     restrict_public_buckets) IN (0, 4))
);

CREATE INDEX buckets_by_account ON buckets (account_id, name);

CREATE TABLE objects (
    bucket              TEXT COLLATE "C" NOT NULL REFERENCES buckets (name) ON DELETE RESTRICT,
    key                 TEXT COLLATE "C" NOT NULL CHECK (key <> ''),
    blob_path           TEXT NOT NULL UNIQUE,
    size                BIGINT NOT NULL CHECK (size >= 0),
    etag                TEXT NOT NULL,
    last_modified       TIMESTAMPTZ NOT NULL,
    content_type        TEXT,
    cache_control       TEXT,
    content_disposition TEXT,
    content_encoding    TEXT,
    content_language    TEXT,
    user_metadata       JSONB NOT NULL,
    sse_algorithm       TEXT NOT NULL CHECK (sse_algorithm IN ('AES256', 'aws:kms')),
    kms_key_arn         TEXT,
    bucket_key_enabled  BOOLEAN NOT NULL,
    wrapped_key         BYTEA NOT NULL,
    encryption_context  JSONB NOT NULL,
    nonce_prefix        BYTEA NOT NULL,
    segment_size        INTEGER NOT NULL CHECK (segment_size > 0),
    acl                 JSONB NOT NULL,
    PRIMARY KEY (bucket, key)
);

-- Blobs that may be in the blob store with no object row pointing at them:
-- uploads under way (garbage = false: collectable once older than the sweeper's
-- cutoff, i.e. abandoned by a crash) and blobs of replaced or deleted objects
-- (garbage = true: collectable at once). A row goes when its blob was deleted.
CREATE TABLE pending_blobs (
    blob_path TEXT PRIMARY KEY,
    since     TIMESTAMPTZ NOT NULL,
    garbage   BOOLEAN NOT NULL DEFAULT false
);

CREATE INDEX pending_blobs_by_age ON pending_blobs (since);
CREATE INDEX pending_blobs_garbage ON pending_blobs (since) WHERE garbage;

-- The least string greater than every string that starts with `p`, comparing by
-- bytes of UTF-8 (which is code point order): the last character that has a next
-- one replaced by it, surrogates skipped. NULL when there is none (`p` empty or all
-- U+10FFFF): nothing comes after.
CREATE FUNCTION prefix_successor(p TEXT) RETURNS TEXT
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    c INTEGER;
BEGIN
    WHILE length(p) > 0 LOOP
        c := ascii(right(p, 1));
        p := left(p, -1);
        IF c < 1114111 THEN
            IF c = 55295 THEN
                c := 57344;
            ELSE
                c := c + 1;
            END IF;
            RETURN p || chr(c);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
