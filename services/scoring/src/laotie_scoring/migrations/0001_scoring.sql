-- Facts per order and per penalty, daily buckets per subject, and the scores.

-- One row per paid order, every column set idempotently from the order's facts
-- (set-once values, flags OR-ed), so replays and reordering change nothing.
CREATE TABLE order_facts (
    order_id             text        PRIMARY KEY,
    shop_id              text        NOT NULL,
    product_id           text        NOT NULL,
    seller_id            text,       -- the creator or anchor who sold it, if any
    paid_day             date,       -- Asia/Shanghai day of payment: the bucket it counts in
    ship_by              timestamptz,
    shipped_at           timestamptz,
    overdue              boolean     NOT NULL DEFAULT false,
    delivered_at         timestamptz,
    product_stars        smallint,
    quality_refund       boolean     NOT NULL DEFAULT false,
    refund_answer_s      double precision,
    disputed             boolean     NOT NULL DEFAULT false
);
CREATE INDEX order_facts_shop ON order_facts (shop_id, paid_day);
CREATE INDEX order_facts_product ON order_facts (product_id, paid_day);
CREATE INDEX order_facts_seller ON order_facts (seller_id, paid_day) WHERE seller_id IS NOT NULL;

CREATE TABLE penalty_facts (
    penalty_id    text    PRIMARY KEY,
    kind          text    NOT NULL,     -- the score kind it weighs on: shop or creator
    subject_id    text    NOT NULL,
    day           date    NOT NULL,
    revoked       boolean NOT NULL DEFAULT false
);
CREATE INDEX penalty_facts_subject ON penalty_facts (kind, subject_id, day);

-- Per subject and day, recomputed from the facts of that day only: a 30-day window is
-- 30 rows, never a rescan of history.
CREATE TABLE daily_buckets (
    kind                 text     NOT NULL,
    subject_id           text     NOT NULL,
    day                  date     NOT NULL,
    orders               integer  NOT NULL,
    reviews              integer  NOT NULL,
    negative_reviews     integer  NOT NULL,
    product_stars_sum    integer  NOT NULL,
    quality_refunds      integer  NOT NULL,
    disputes             integer  NOT NULL,
    ship_due             integer  NOT NULL,
    shipped_on_time      integer  NOT NULL,
    delivered            integer  NOT NULL,
    delivery_hours_sum   double precision NOT NULL,
    refund_answers       integer  NOT NULL,
    refund_answer_hours_sum double precision NOT NULL,
    PRIMARY KEY (kind, subject_id, day)
);

CREATE TABLE scores (
    kind            text        NOT NULL,
    subject_id      text        NOT NULL,
    value           numeric(3, 2) NOT NULL,
    band            text        NOT NULL,
    components      jsonb       NOT NULL,
    sample_orders   integer     NOT NULL,
    window_end      date        NOT NULL,
    policy_version  text        NOT NULL,
    computed_at     timestamptz NOT NULL,
    PRIMARY KEY (kind, subject_id)
);
CREATE INDEX scores_window_end ON scores (window_end);

CREATE TABLE score_history (
    kind            text        NOT NULL,
    subject_id      text        NOT NULL,
    value           numeric(3, 2) NOT NULL,
    band            text        NOT NULL,
    components      jsonb       NOT NULL,
    sample_orders   integer     NOT NULL,
    window_end      date        NOT NULL,
    policy_version  text        NOT NULL,
    computed_at     timestamptz NOT NULL
);
CREATE INDEX score_history_subject ON score_history (kind, subject_id, computed_at);
