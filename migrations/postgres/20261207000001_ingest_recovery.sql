-- Crash recovery of ingest: which events of the relay's event log the store already reflects.
-- The newest relay seq among a host's events whose account state is written (with last_seq).
ALTER TABLE hosts ADD COLUMN last_relay_seq BIGINT;
-- One row: every logged event up to log_watermark is reflected in the store, so recovery
-- reads the log only after it.
CREATE TABLE ingest_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    log_watermark BIGINT NOT NULL
);
