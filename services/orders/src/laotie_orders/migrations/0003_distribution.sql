-- Distribution (达人分销): a shop offers a product to creators at a commission (a plan); a
-- creator takes it into a short video, a live room or their shop window (a promotion) and
-- gets a reference; an order credits a creator only through a valid reference, at the
-- plan's commission (never one named by the buyer).
CREATE TABLE distribution_plans (
    plan_id             text        PRIMARY KEY,
    product_id          text        NOT NULL REFERENCES products,
    shop_id             text        NOT NULL REFERENCES shops,
    commission_rate_bp  integer     NOT NULL CHECK (commission_rate_bp BETWEEN 1 AND 9000),
    starts_at           timestamptz NOT NULL,
    ends_at             timestamptz,            -- NULL: until the shop ends or replaces it
    ended_at            timestamptz,
    created_at          timestamptz NOT NULL,
    CHECK (ends_at IS NULL OR ends_at > starts_at)
);
-- One open plan per product: publishing a new one ends the one before.
CREATE UNIQUE INDEX distribution_plans_open ON distribution_plans (product_id)
    WHERE ended_at IS NULL;

CREATE TABLE promotions (
    promotion_id  text        PRIMARY KEY,
    -- What a buyer's order carries: random (128 bits), unguessable, bound to this row.
    reference     text        NOT NULL UNIQUE,
    plan_id       text        NOT NULL REFERENCES distribution_plans,
    creator_id    text        NOT NULL,
    placement     text        NOT NULL CHECK (placement IN ('short_video', 'live_room', 'shop_window')),
    placement_id  text        NOT NULL,   -- the video's or room's id; the creator's id for a window
    created_at    timestamptz NOT NULL,
    UNIQUE (plan_id, creator_id, placement, placement_id)
);

ALTER TABLE orders
    ADD COLUMN plan_id      text,
    ADD COLUMN promotion_id text;
