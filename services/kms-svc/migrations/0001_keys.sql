-- kms-svc's own database: keys, their wrapped material versions, aliases and tags.
CREATE TABLE keys (
    key_id                   UUID PRIMARY KEY,
    description              TEXT NOT NULL DEFAULT '',
    key_usage                TEXT NOT NULL,
    key_spec                 TEXT NOT NULL,
    key_manager              TEXT NOT NULL,
    state                    TEXT NOT NULL CHECK (state IN ('Enabled', 'Disabled', 'PendingDeletion')),
    policy                   TEXT NOT NULL,
    creation_date            TIMESTAMPTZ NOT NULL,
    deletion_date            TIMESTAMPTZ,
    pending_window_days      INT,
    current_material_version INT NOT NULL
);

CREATE INDEX keys_pending_deletion ON keys (deletion_date) WHERE state = 'PendingDeletion';

-- Backing key material, wrapped by the master key with AAD = key ARN + version.
-- Rows go with their key: deleting a key destroys its material.
CREATE TABLE key_material (
    key_id     UUID NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
    version    INT NOT NULL,
    wrapped    BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (key_id, version)
);

CREATE TABLE aliases (
    alias_name        TEXT PRIMARY KEY,
    key_id            UUID NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
    creation_date     TIMESTAMPTZ NOT NULL,
    last_updated_date TIMESTAMPTZ NOT NULL
);

CREATE INDEX aliases_by_key ON aliases (key_id);

CREATE TABLE key_tags (
    key_id    UUID NOT NULL REFERENCES keys (key_id) ON DELETE CASCADE,
    tag_key   TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (key_id, tag_key)
);
