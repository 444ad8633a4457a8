-- Affinity, what other services told us (brand rooms, bands, penalties), the budget
-- ledger, grants, attribution and rewards.

-- One row per paid distribution order of a brand's goods: buyer U's pull towards brand B,
-- made by creator C. Withdrawn when the order is refunded.
CREATE TABLE affinity (
    order_id     text        PRIMARY KEY,
    buyer_id     text        NOT NULL,
    brand_id     text        NOT NULL,
    creator_id   text        NOT NULL,
    paid_at      timestamptz NOT NULL,
    withdrawn    boolean     NOT NULL DEFAULT false
);
CREATE INDEX affinity_brand ON affinity (brand_id, buyer_id) WHERE NOT withdrawn;

CREATE TABLE brand_rooms (
    room_id   text PRIMARY KEY,
    brand_id  text NOT NULL
);

-- The latest band of shops and creators, from scoring.score-latest.
CREATE TABLE bands (
    subject_key       text        PRIMARY KEY,   -- shop:<id> | creator:<id>
    band              text        NOT NULL,
    chuanliu_eligible boolean     NOT NULL,
    traffic_weight    double precision NOT NULL,
    computed_at       timestamptz NOT NULL
);

CREATE TABLE penalties (
    penalty_id  text        NOT NULL,
    subject_id  text        NOT NULL,
    until       timestamptz,              -- NULL: until revoked (or for good)
    revoked     boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (penalty_id, subject_id)
);
CREATE INDEX penalties_subject ON penalties (subject_id) WHERE NOT revoked;

-- The budget ledger. `granted` only grows through a conditional UPDATE, so no number of
-- replicas can take it past the budget.
CREATE TABLE budget_settings (
    id                 boolean PRIMARY KEY DEFAULT true CHECK (id),
    daily_impressions  bigint  NOT NULL CHECK (daily_impressions >= 0),
    updated_at         timestamptz NOT NULL,
    updated_by         text    NOT NULL
);
CREATE TABLE budget_days (
    day       date    PRIMARY KEY,
    budget    bigint  NOT NULL CHECK (budget >= 0),
    granted   bigint  NOT NULL DEFAULT 0,
    CHECK (granted <= budget)
);
CREATE TABLE brand_days (
    day       date    NOT NULL,
    brand_id  text    NOT NULL,
    granted   bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (day, brand_id)
);
CREATE TABLE buyer_days (
    day       date    NOT NULL,
    buyer_id  text    NOT NULL,
    grants    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (day, buyer_id)
);

-- One decision per session start (the trigger), whatever the redeliveries and replays.
CREATE TABLE triggers (
    session_id   text        PRIMARY KEY,
    brand_id     text        NOT NULL,
    room_id      text        NOT NULL,
    outcome      text        NOT NULL,     -- granted | refused:<reason>
    grants       integer     NOT NULL,
    impressions  bigint      NOT NULL,
    decided_at   timestamptz NOT NULL
);

CREATE TABLE grants (
    grant_id        text        PRIMARY KEY,
    session_id      text        NOT NULL,
    buyer_id        text        NOT NULL,
    brand_id        text        NOT NULL,
    via_creator_id  text,
    affinity        double precision NOT NULL,
    impressions     integer     NOT NULL,
    day             date        NOT NULL,
    granted_at      timestamptz NOT NULL,
    UNIQUE (session_id, buyer_id)
);
CREATE INDEX grants_buyer_brand ON grants (buyer_id, brand_id, granted_at);

-- Self-broadcast orders, attributed to Chuanliu or not; amounts set idempotently.
CREATE TABLE self_broadcast_orders (
    order_id        text        PRIMARY KEY,
    brand_id        text        NOT NULL,
    buyer_id        text        NOT NULL,
    day             date        NOT NULL,
    gmv_fen         bigint      NOT NULL,
    refunded_fen    bigint      NOT NULL DEFAULT 0,
    attributed      boolean     NOT NULL,
    grant_id        text,
    via_creator_id  text
);
CREATE INDEX self_broadcast_brand_day ON self_broadcast_orders (brand_id, day);
CREATE INDEX self_broadcast_creator ON self_broadcast_orders (via_creator_id)
    WHERE attributed;

CREATE TABLE rewards (
    reward_id        text        PRIMARY KEY,
    order_id         text        NOT NULL UNIQUE,
    creator_id       text        NOT NULL,
    brand_id         text        NOT NULL,
    impressions      integer     NOT NULL,
    band             text,
    rewarded_at      timestamptz NOT NULL
);
CREATE INDEX rewards_creator ON rewards (creator_id);
