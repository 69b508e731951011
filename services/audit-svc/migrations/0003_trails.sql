-- Trails and the delivery of their log files.
--
-- Delivery reads events in the order they became durable. Neither event_time (a
-- replayed or late record carries an old time) nor a plain sequence (two ingest
-- transactions take their numbers in one order and may commit in the other) gives
-- that order. Each row records the transaction that wrote it (`ingest_xid`) and its
-- place in it (`ingest_seq`); the worker reads, in (ingest_xid, ingest_seq) order,
-- only rows whose transaction is older than its snapshot's xmin. Every transaction
-- below xmin has ended, and every transaction that has not committed yet has an id
-- at or above xmin, so nothing can appear later behind a position already delivered.
--
-- Rows stored before this migration have no position and are never delivered: no
-- trail existed to select them.
CREATE SEQUENCE events_ingest_seq AS BIGINT;
ALTER TABLE events ADD COLUMN ingest_xid xid8, ADD COLUMN ingest_seq BIGINT;
ALTER TABLE events
    ALTER COLUMN ingest_xid SET DEFAULT pg_current_xact_id(),
    ALTER COLUMN ingest_seq SET DEFAULT nextval('events_ingest_seq');
CREATE INDEX events_by_ingest ON events (ingest_xid, ingest_seq) WHERE ingest_xid IS NOT NULL;

-- One row per trail of an account. Delivery state lives beside the configuration:
-- `cursor_*` is the last position delivered; `pending_*` a batch being delivered
-- (its end and the time its object keys carry), written before the PUT, so that after
-- a crash the same objects are written again under the same keys; cleared, and the
-- cursor moved, in the transaction that records the delivered files.
CREATE TABLE trails (
    account_id                    TEXT NOT NULL,
    name                          TEXT NOT NULL,
    region                        TEXT NOT NULL,
    s3_bucket_name                TEXT NOT NULL,
    s3_key_prefix                 TEXT NOT NULL DEFAULT '',
    include_global_service_events BOOLEAN NOT NULL DEFAULT TRUE,
    is_multi_region_trail         BOOLEAN NOT NULL DEFAULT FALSE,
    log_file_validation_enabled   BOOLEAN NOT NULL DEFAULT FALSE,
    kms_key_id                    TEXT NOT NULL DEFAULT '',
    -- AWS shapes: {"EventSelectors": [...]} or {"AdvancedEventSelectors": [...]}.
    event_selectors               JSONB NOT NULL,
    has_custom_event_selectors    BOOLEAN NOT NULL DEFAULT FALSE,
    -- [{"InsightType": "ApiCallRateInsight"}], read by the insights worker too.
    insight_selectors             JSONB NOT NULL DEFAULT '[]',
    is_logging                    BOOLEAN NOT NULL DEFAULT FALSE,
    start_logging_time            TIMESTAMPTZ,
    stop_logging_time             TIMESTAMPTZ,
    -- Rows with ingest_xid below this were written before StopLogging: still delivered.
    stop_xid                      BIGINT NOT NULL DEFAULT 0,
    cursor_xid                    BIGINT NOT NULL DEFAULT 0,
    cursor_seq                    BIGINT NOT NULL DEFAULT 0,
    pending_end_xid               BIGINT,
    pending_end_seq               BIGINT,
    pending_time                  TIMESTAMPTZ,
    latest_delivery_time          TIMESTAMPTZ,
    latest_delivery_attempt_time  TIMESTAMPTZ,
    latest_delivery_error         TEXT,
    -- Written by the digests part.
    latest_digest_delivery_time   TIMESTAMPTZ,
    latest_digest_delivery_error  TEXT,
    created_at                    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, name)
);

-- Every log file delivered, for digests: the hash is SHA-256 of the uncompressed file.
CREATE TABLE trail_log_files (
    account_id        TEXT NOT NULL,
    trail_name        TEXT NOT NULL,
    s3_bucket         TEXT NOT NULL,
    s3_object         TEXT NOT NULL,
    sha256_hex        TEXT NOT NULL,
    oldest_event_time TIMESTAMPTZ NOT NULL,
    newest_event_time TIMESTAMPTZ NOT NULL,
    records           INTEGER NOT NULL,
    delivered_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, trail_name, s3_object)
);
CREATE INDEX trail_log_files_by_time ON trail_log_files (account_id, trail_name, delivered_at);
