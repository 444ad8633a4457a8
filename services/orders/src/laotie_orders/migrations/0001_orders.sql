-- Shops, products and SKUs, orders, refunds and reviews. Money in fen (bigint), times UTC.

CREATE TABLE shops (
    shop_id     text        PRIMARY KEY,
    name        text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('merchant', 'brand')),
    owner_id    text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- What moderation imposed on a shop, per penalty, so a revocation undoes exactly that.
CREATE TABLE shop_restrictions (
    penalty_id  text        NOT NULL,
    shop_id     text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('listing_ban', 'suspend', 'close')),
    until       timestamptz,            -- NULL: until revoked (close: for good)
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (penalty_id, shop_id, kind)
);
CREATE INDEX shop_restrictions_shop ON shop_restrictions (shop_id) WHERE revoked_at IS NULL;

CREATE TABLE products (
    product_id        text        PRIMARY KEY,
    shop_id           text        NOT NULL REFERENCES shops,
    title             text        NOT NULL,
    description       text        NOT NULL,
    status            text        NOT NULL CHECK (status IN ('active', 'delisted', 'banned')),
    seller_delisted   boolean     NOT NULL DEFAULT false,
    ship_within_hours integer     NOT NULL CHECK (ship_within_hours > 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX products_shop ON products (shop_id);

-- A product is banned while any moderation ban on it is unrevoked.
CREATE TABLE product_bans (
    penalty_id  text        NOT NULL,
    product_id  text        NOT NULL REFERENCES products,
    revoked_at  timestamptz,
    PRIMARY KEY (penalty_id, product_id)
);

CREATE TABLE skus (
    sku_id          text    PRIMARY KEY,
    product_id      text    NOT NULL REFERENCES products,
    name            text    NOT NULL,
    price_fen       bigint  NOT NULL CHECK (price_fen >= 0),
    -- Reserved atomically with `stock = stock - q WHERE stock >= q`: it can never go below 0.
    stock           integer NOT NULL CHECK (stock >= 0),
    per_buyer_limit integer CHECK (per_buyer_limit > 0),
    sale_starts_at  timestamptz,
    sale_ends_at    timestamptz
);
CREATE INDEX skus_product ON skus (product_id);

-- Units each buyer holds of a SKU with a per-buyer limit (限购); released on cancellation.
CREATE TABLE buyer_purchases (
    sku_id    text    NOT NULL REFERENCES skus,
    buyer_id  text    NOT NULL,
    quantity  integer NOT NULL CHECK (quantity >= 0),
    PRIMARY KEY (sku_id, buyer_id)
);

CREATE TABLE orders (
    order_id            text        PRIMARY KEY,
    shop_id             text        NOT NULL REFERENCES shops,
    shop_kind           text        NOT NULL,
    buyer_id            text        NOT NULL,
    product_id          text        NOT NULL REFERENCES products,
    sku_id              text        NOT NULL REFERENCES skus,
    quantity            integer     NOT NULL CHECK (quantity > 0),
    unit_price_fen      bigint      NOT NULL CHECK (unit_price_fen >= 0),
    total_fen           bigint      NOT NULL CHECK (total_fen >= 0),
    refunded_fen        bigint      NOT NULL DEFAULT 0,
    channel             text        NOT NULL
                        CHECK (channel IN ('live_room', 'short_video', 'shop_page', 'distribution')),
    room_id             text,
    anchor_id           text,
    video_id            text,
    creator_id          text,
    commission_rate_bp  integer,
    status              text        NOT NULL,
    placed_at           timestamptz NOT NULL,
    payment_due_at      timestamptz NOT NULL,
    paid_at             timestamptz,
    ship_by             timestamptz,
    overdue_flagged_at  timestamptz,
    shipped_at          timestamptz,
    tracking_number     text,
    delivered_at        timestamptz,
    auto_complete_at    timestamptz,
    completed_at        timestamptz,
    cancelled_at        timestamptz,
    cancel_reason       text,
    CHECK (refunded_fen BETWEEN 0 AND total_fen)
);
CREATE INDEX orders_buyer ON orders (buyer_id, placed_at DESC);
CREATE INDEX orders_shop ON orders (shop_id, placed_at DESC);
-- The deadline sweeper's work lists.
CREATE INDEX orders_unpaid ON orders (payment_due_at) WHERE status = 'placed';
CREATE INDEX orders_to_ship ON orders (ship_by) WHERE status = 'paid' AND overdue_flagged_at IS NULL;
CREATE INDEX orders_delivered ON orders (auto_complete_at) WHERE status = 'delivered';

CREATE TABLE refunds (
    refund_id        text        PRIMARY KEY,
    order_id         text        NOT NULL REFERENCES orders,
    kind             text        NOT NULL CHECK (kind IN ('refund_only', 'return_and_refund')),
    reason           text        NOT NULL
                     CHECK (reason IN ('quality', 'not_as_described', 'not_received', 'changed_mind')),
    amount_fen       bigint      NOT NULL CHECK (amount_fen > 0),
    status           text        NOT NULL,
    after_shipment   boolean     NOT NULL,
    requested_at     timestamptz NOT NULL,
    answer_due_at    timestamptz NOT NULL,
    answered_at      timestamptz,
    return_due_at    timestamptz,
    return_tracking  text,
    returned_at      timestamptz,
    receive_due_at   timestamptz,
    received_at      timestamptz,
    refunded_at      timestamptz,
    decided_by       text,
    closed_why       text,
    note             text        NOT NULL DEFAULT ''
);
-- At most one after-sales case in progress per order.
CREATE UNIQUE INDEX refunds_one_open ON refunds (order_id)
    WHERE status IN ('requested', 'disputed', 'awaiting_return', 'returned');
CREATE INDEX refunds_unanswered ON refunds (answer_due_at) WHERE status = 'requested';
CREATE INDEX refunds_awaiting_return ON refunds (return_due_at) WHERE status = 'awaiting_return';
CREATE INDEX refunds_returned ON refunds (receive_due_at) WHERE status = 'returned';

CREATE TABLE reviews (
    order_id         text        PRIMARY KEY REFERENCES orders,
    product_stars    smallint    NOT NULL CHECK (product_stars BETWEEN 1 AND 5),
    logistics_stars  smallint    NOT NULL CHECK (logistics_stars BETWEEN 1 AND 5),
    service_stars    smallint    NOT NULL CHECK (service_stars BETWEEN 1 AND 5),
    text             text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now()
);
