-- Rooms and sessions, pinned products, viewers, comments, and per-session order stats.

CREATE TABLE rooms (
    room_id     text        PRIMARY KEY,
    owner_type  text        NOT NULL CHECK (owner_type IN ('anchor', 'creator', 'brand')),
    owner_id    text        NOT NULL,
    shop_id     text,
    title       text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rooms_owner ON rooms (owner_id);
CREATE INDEX rooms_shop ON rooms (shop_id) WHERE shop_id IS NOT NULL;

CREATE TABLE sessions (
    session_id      text        PRIMARY KEY,
    room_id         text        NOT NULL REFERENCES rooms,
    title           text        NOT NULL,
    self_broadcast  boolean     NOT NULL,
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    end_reason      text,
    totals          jsonb
);
-- One live session per room at a time.
CREATE UNIQUE INDEX sessions_one_live ON sessions (room_id) WHERE ended_at IS NULL;
CREATE INDEX sessions_room_time ON sessions (room_id, started_at);

-- Products as orders.product last described them: pins must be active products.
CREATE TABLE products (
    product_id  text        PRIMARY KEY,
    shop_id     text        NOT NULL,
    title       text        NOT NULL,
    status      text        NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE pins (
    session_id    text        NOT NULL REFERENCES sessions,
    product_id    text        NOT NULL,
    pinned_at     timestamptz NOT NULL,
    unpinned_at   timestamptz,
    unpin_reason  text,
    PRIMARY KEY (session_id, product_id)
);
CREATE INDEX pins_live_product ON pins (product_id) WHERE unpinned_at IS NULL;

-- Live bans from moderation.penalty, per penalty, so a revocation lifts exactly that ban.
CREATE TABLE live_bans (
    penalty_id  text        NOT NULL,
    subject_id  text        NOT NULL,   -- an anchor/creator id or a brand's shop id
    until       timestamptz,            -- NULL: for good
    revoked_at  timestamptz,
    PRIMARY KEY (penalty_id, subject_id)
);
CREATE INDEX live_bans_subject ON live_bans (subject_id) WHERE revoked_at IS NULL;

-- Every distinct join/leave as reported; duplicates collapse on the key. Concurrent and
-- peak viewers are derived from the timeline, so late and out-of-order reports count right.
CREATE TABLE viewer_events (
    session_id  text        NOT NULL REFERENCES sessions,
    viewer_id   text        NOT NULL,
    at          timestamptz NOT NULL,
    action      text        NOT NULL CHECK (action IN ('join', 'leave')),
    PRIMARY KEY (session_id, viewer_id, at, action)
);

CREATE TABLE comments (
    comment_id           text        PRIMARY KEY,
    session_id           text        NOT NULL REFERENCES sessions,
    room_id              text        NOT NULL,
    author_id            text        NOT NULL,
    author_role          text        NOT NULL,
    text                 text        NOT NULL,
    posted_at            timestamptz NOT NULL,
    hidden_at            timestamptz,
    hidden_violation_id  text
);
CREATE INDEX comments_session ON comments (session_id, posted_at);

-- Orders attributed to a session. Every column is set idempotently from the order's facts
-- (paid flags OR, amounts as maxima), so replays and reordering leave the stats unchanged.
CREATE TABLE session_orders (
    order_id      text    PRIMARY KEY,
    session_id    text    NOT NULL REFERENCES sessions,
    buyer_id      text    NOT NULL,
    paid          boolean NOT NULL DEFAULT false,
    paid_fen      bigint  NOT NULL DEFAULT 0,
    refunded_fen  bigint  NOT NULL DEFAULT 0
);
CREATE INDEX session_orders_session ON session_orders (session_id);
