-- When each trail's current chain of digest files began: set when logging starts on a
-- trail that validates its log files, or when validation is turned on while it logs;
-- cleared when validation is turned off. Digests are written from here on, window by
-- window, while the trail logs, and after StopLogging until the windows cover every
-- log file delivered for the events before the stop. A new value starts a new chain.
ALTER TABLE trails ADD COLUMN validation_started_at TIMESTAMPTZ;
