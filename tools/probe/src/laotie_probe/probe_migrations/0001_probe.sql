-- The probe's effects. Deliberately no unique constraint on event_id: if a redelivered
-- event were applied twice, it would show here as two rows.
CREATE TABLE probe_effects (
    id          bigserial   PRIMARY KEY,
    event_id    text        NOT NULL,
    probe_key   text        NOT NULL,
    seq         integer     NOT NULL,
    sent_at     timestamptz NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX probe_effects_event ON probe_effects (event_id);
