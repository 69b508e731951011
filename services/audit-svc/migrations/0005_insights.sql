-- CloudTrail Insights: per-minute rates of management calls, counted as they are
-- stored, and the detector's state (services/audit-svc/src/insights/).
--
-- The error code of each event, read from its record at ingest, so that error rates
-- are counted without parsing stored JSON. NULL (no bytes beyond the null bitmap) for
-- the calls that succeeded; no index.
ALTER TABLE events ADD COLUMN error_code TEXT;

-- Partial counts, appended by the same statement that stores a batch: one row per
-- (minute, eventSource, eventName, readOnly, errorCode) of the batch's new management
-- events, so replayed events are never counted twice. Append-only (no unique key, so
-- concurrent batches never wait on each other's rows) and unindexed; the insights
-- worker moves a minute's rows into `insight_rates` once the minute is closed, so this
-- table only holds the last minute or two.
CREATE TABLE insight_counts (
    minute       TIMESTAMPTZ NOT NULL,
    event_source TEXT NOT NULL,
    event_name   TEXT NOT NULL,
    read_only    BOOLEAN NOT NULL,
    error_code   TEXT,
    calls        BIGINT NOT NULL
);

-- One row per closed minute and series: ApiCallRateInsight counts the write calls of
-- (eventSource, eventName) with error_code ''; ApiErrorRateInsight the calls of
-- (eventSource, eventName) that failed with error_code. Minutes without calls have no
-- row. Kept for the baseline window: the minute leaving the window is subtracted
-- from the detector's running sums.
CREATE TABLE insight_rates (
    minute       TIMESTAMPTZ NOT NULL,
    insight_type TEXT NOT NULL CHECK (insight_type IN ('ApiCallRateInsight', 'ApiErrorRateInsight')),
    event_source TEXT NOT NULL,
    event_name   TEXT NOT NULL,
    error_code   TEXT NOT NULL,
    calls        BIGINT NOT NULL,
    PRIMARY KEY (minute, insight_type, event_source, event_name, error_code)
);

-- The detector's state per series: the sums over the baseline window, and the
-- Insight under way, if any (columns open_*, all NULL when none).
CREATE TABLE insight_series (
    insight_type    TEXT NOT NULL,
    event_source    TEXT NOT NULL,
    event_name      TEXT NOT NULL,
    error_code      TEXT NOT NULL,
    sum             BIGINT NOT NULL,
    sum_squares     BIGINT NOT NULL,
    open_shared_id  UUID,
    open_start      TIMESTAMPTZ,
    open_baseline_calls BIGINT,
    open_threshold  DOUBLE PRECISION,
    open_calls      BIGINT,
    open_minutes    INTEGER,
    pending_calls   BIGINT,
    pending_minutes INTEGER,
    PRIMARY KEY (insight_type, event_source, event_name, error_code)
);

-- The last closed minute, and how many minutes of baseline the detector has seen
-- (at most the window). One row.
CREATE TABLE insight_progress (
    id              BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    last_closed     TIMESTAMPTZ NOT NULL,
    history_minutes INTEGER NOT NULL
);
