-- What a penalty weighs in `violations` (score policy `[violation_weight]`): its points and
-- whether it closed the subject. A row recorded before (NULL) weighs 1, as it did.
ALTER TABLE penalty_facts
    ADD COLUMN points integer,
    ADD COLUMN closes boolean NOT NULL DEFAULT false;
