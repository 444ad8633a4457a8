-- What the probe's tap applied from other services' topics: one row per application, with
-- no unique constraint, so a record applied twice shows as two rows of one event_id.
CREATE TABLE tapped_events (
    id          bigserial   PRIMARY KEY,
    event_id    text        NOT NULL,
    event_type  text        NOT NULL,
    event_key   text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX tapped_events_key ON tapped_events (event_key);
