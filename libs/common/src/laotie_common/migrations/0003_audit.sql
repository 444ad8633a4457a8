-- Operator and reviewer actions (laotie_common.audit): kept, never pruned.
CREATE TABLE audit_log (
    audit_id    text PRIMARY KEY,
    recorded_at timestamptz NOT NULL,
    actor_role  text NOT NULL,
    actor_id    text NOT NULL,
    action      text NOT NULL,
    target      jsonb NOT NULL,
    reason      text,
    details     jsonb,
    status_code integer NOT NULL
);
CREATE INDEX audit_log_recorded_at ON audit_log (recorded_at);
CREATE INDEX audit_log_actor ON audit_log (actor_id, recorded_at);
