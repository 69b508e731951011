-- Multipart uploads (docs/s3-endpoint-plan.md section 4, option C): every part is its
-- own sealed blob, under the upload's one data key and its own fresh nonce prefix.
-- A completed upload becomes an ordinary `objects` row plus its ordered part list.
--
-- Blob life cycle, as for single PUTs: a part blob is registered in `pending_blobs`
-- before it is written and leaves it when its `upload_parts` row is committed; from
-- then on it is referenced by that row, then (after completion) by `object_parts`.
-- A replaced part, a part left out of the completed list, every part of an aborted
-- or expired upload and every part of a deleted or replaced object goes back into
-- `pending_blobs` as garbage, in the transaction that unreferences it.

-- In-progress uploads. The encryption columns are those of `objects` without the
-- nonce prefix: each part draws its own.
CREATE TABLE uploads (
    -- Random and URL-safe; starts with the initiation time in fixed-width hex, so
    -- that upload id order within a key is initiation order.
    upload_id           TEXT COLLATE "C" PRIMARY KEY,
    bucket              TEXT COLLATE "C" NOT NULL REFERENCES buckets (name) ON DELETE RESTRICT,
    key                 TEXT COLLATE "C" NOT NULL CHECK (key <> ''),
    initiated           TIMESTAMPTZ NOT NULL,
    -- The ARN of the principal that created the upload ('anonymous' for none).
    initiator           TEXT NOT NULL,
    content_type        TEXT,
    cache_control       TEXT,
    content_disposition TEXT,
    content_encoding    TEXT,
    content_language    TEXT,
    user_metadata       JSONB NOT NULL,
    sse_algorithm       TEXT NOT NULL CHECK (sse_algorithm IN ('AES256', 'aws:kms')),
    kms_key_arn         TEXT,
    bucket_key_enabled  BOOLEAN NOT NULL,
    -- The one data key of the object-to-be, wrapped (KMS ciphertext blob or SSE-S3
    -- master key seal); never the plaintext.
    wrapped_key         BYTEA NOT NULL,
    encryption_context  JSONB NOT NULL,
    segment_size        INTEGER NOT NULL CHECK (segment_size > 0),
    -- The ACL the completed object gets (the owner is the account in it).
    acl                 JSONB NOT NULL
);

-- ListMultipartUploads: by key, then upload id (= initiation order).
CREATE INDEX uploads_by_key ON uploads (bucket, key, upload_id);
-- Expiry of abandoned uploads.
CREATE INDEX uploads_by_age ON uploads (initiated);

-- The current blob of each part number of an upload (a retried part replaces it).
CREATE TABLE upload_parts (
    upload_id     TEXT COLLATE "C" NOT NULL REFERENCES uploads (upload_id) ON DELETE CASCADE,
    part_number   INTEGER NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
    blob_path     TEXT NOT NULL UNIQUE,
    nonce_prefix  BYTEA NOT NULL CHECK (length(nonce_prefix) = 7),
    size          BIGINT NOT NULL CHECK (size >= 0),
    -- The 16 bytes whose hex is the part's ETag: the MD5 of its plaintext (SSE-S3)
    -- or random (SSE-KMS, as for single PUTs).
    etag          BYTEA NOT NULL CHECK (length(etag) = 16),
    last_modified TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);

-- The ordered parts of a completed multipart object. An object version is named by
-- its `objects.blob_path` (unique, and new for every write), which for a multipart
-- object is the blob of its first part. Single-PUT objects have no rows here.
-- The reference is checked at commit, so whatever deletes or replaces an object row
-- must also move its parts to garbage in that transaction (or the commit fails).
CREATE TABLE object_parts (
    object_blob  TEXT NOT NULL
        REFERENCES objects (blob_path) ON DELETE NO ACTION ON UPDATE NO ACTION
        DEFERRABLE INITIALLY DEFERRED,
    part_number  INTEGER NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
    blob_path    TEXT NOT NULL UNIQUE,
    nonce_prefix BYTEA NOT NULL CHECK (length(nonce_prefix) = 7),
    size         BIGINT NOT NULL CHECK (size >= 0),
    PRIMARY KEY (object_blob, part_number)
);
