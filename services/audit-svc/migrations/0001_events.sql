-- audit-svc's own database: every CloudTrail record of every keyhold service.
--
-- `events` and `event_resources` are partitioned by UTC day on event_time. The store
-- creates a day's partitions before the first insert into it, and retention drops
-- whole day partitions (no DELETE, no vacuum debt).
--
-- Every lookup index leads with event_category: LookupEvents always filters on it
-- (management by default), so a lookup is one index range scan walked newest first,
-- however many data events sit beside the management events. Each index ends with
-- (event_time DESC, event_id DESC), the keyset of NextToken pagination.
CREATE TABLE events (
    event_id          UUID NOT NULL,
    event_time        TIMESTAMPTZ NOT NULL,
    event_name        TEXT NOT NULL,
    event_source      TEXT NOT NULL,
    event_category    TEXT NOT NULL CHECK (event_category IN ('Management', 'Data', 'Insight')),
    read_only         BOOLEAN NOT NULL,
    username          TEXT,
    access_key_id     TEXT,
    -- The record exactly as the emitting service wrote it (LookupEvents' CloudTrailEvent).
    cloud_trail_event TEXT NOT NULL,
    -- Each eventID at most once. A unique constraint on a partitioned table must hold
    -- the partition key; a replayed record carries the same eventTime.
    UNIQUE (event_id, event_time)
) PARTITION BY RANGE (event_time);

CREATE INDEX events_by_time ON events (event_category, event_time DESC, event_id DESC);
CREATE INDEX events_by_name ON events (event_category, event_name, event_time DESC, event_id DESC);
CREATE INDEX events_by_source ON events (event_category, event_source, event_time DESC, event_id DESC);
CREATE INDEX events_by_read_only ON events (event_category, read_only, event_time DESC, event_id DESC);
CREATE INDEX events_by_username ON events (event_category, username, event_time DESC, event_id DESC);
CREATE INDEX events_by_access_key ON events (event_category, access_key_id, event_time DESC, event_id DESC);
-- EventId lookups use the unique index (event_id, event_time).

-- The resources of each event, one row per lookup value: kind 'type' (AWS::KMS::Key)
-- and kind 'name' (the ARN, and for an ARN with a '/' also the part after the last
-- '/', so a KMS key's events are found by its key id). A btree walked newest first
-- stays fast however many events share a resource; a GIN index over a text[] would
-- have to collect and sort every match before the first page.
CREATE TABLE event_resources (
    event_category TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('type', 'name')),
    value          TEXT NOT NULL,
    event_time     TIMESTAMPTZ NOT NULL,
    event_id       UUID NOT NULL,
    PRIMARY KEY (event_category, kind, value, event_time, event_id)
) PARTITION BY RANGE (event_time);

-- Small settings of the service itself, e.g. the key that signs NextTokens (generated
-- on first start, so tokens survive restarts and work across replicas).
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
