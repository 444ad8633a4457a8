-- Rectification (整改): a seller resubmits a product banned for its content with new text
-- (orders.product.resubmitted). The text is re-scanned: clean, the bans its content caused
-- are lifted (moderation.penalty.delisting_lifted); still tripping a detector, it waits for a
-- reviewer (in_review), who accepts or rejects it with a reason (audited). One row per
-- resubmission: a redelivered event decides nothing again.
CREATE TABLE rectifications (
    rectification_id text        PRIMARY KEY,
    product_id       text        NOT NULL,
    shop_id          text        NOT NULL,
    text             text        NOT NULL,
    text_version     text        NOT NULL,
    findings         jsonb       NOT NULL,
    penalty_ids      text[]      NOT NULL,
    status           text        NOT NULL CHECK (status IN ('accepted', 'in_review', 'rejected')),
    decided_by       text,
    reason           text,
    created_at       timestamptz NOT NULL,
    decided_at       timestamptz
);
CREATE INDEX rectifications_product ON rectifications (product_id, text_version)
    WHERE status = 'accepted';
CREATE INDEX rectifications_to_review ON rectifications (created_at) WHERE status = 'in_review';
