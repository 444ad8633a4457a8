-- The holdout (对照组): eligible buyers a session start would have reached but, by a
-- deterministic hash of their id, receives no grant; uplift compares the granted buyers
-- (treated) with them.
CREATE TABLE holdouts (
    session_id  text        NOT NULL,
    brand_id    text        NOT NULL,
    buyer_id    text        NOT NULL,
    affinity    numeric     NOT NULL,
    day         date        NOT NULL,
    held_at     timestamptz NOT NULL,
    PRIMARY KEY (session_id, buyer_id)
);
CREATE INDEX holdouts_brand_day ON holdouts (brand_id, day);
CREATE INDEX grants_brand_day ON grants (brand_id, day);
