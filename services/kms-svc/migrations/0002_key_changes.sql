-- One counter every key or alias change moves on, before the call that made it
-- returns. Each kms-svc replica compares it with the value its cached keys were read
-- under, on every cached read, so a policy change made through one replica applies to
-- the very next request any replica serves.
CREATE TABLE key_changes (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    value     BIGINT NOT NULL
);
INSERT INTO key_changes (singleton, value) VALUES (TRUE, 0);
