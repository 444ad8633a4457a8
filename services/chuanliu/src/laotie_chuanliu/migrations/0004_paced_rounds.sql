-- Grants paced through a live session: a round at its start, then top-ups while it is live
-- (policy: grants.top_up_every_s, rounds_per_session). A session's trigger row counts its
-- rounds and says when the next is due (NULL: no more, the session ended or had its last).
ALTER TABLE triggers
    ADD COLUMN rounds        integer     NOT NULL DEFAULT 1,
    ADD COLUMN next_round_at timestamptz,
    ADD COLUMN ended_at      timestamptz;
CREATE INDEX triggers_due ON triggers (next_round_at) WHERE next_round_at IS NOT NULL;
ALTER TABLE grants ADD COLUMN round integer NOT NULL DEFAULT 1;
