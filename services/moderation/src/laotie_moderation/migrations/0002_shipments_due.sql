-- Late shipment is judged per shop and calendar week (policy `shipping`): the orders due to
-- ship (from orders.order.paid) and which of them became overdue; `judged` once the sweep has
-- judged the week with that late order in it. Kept five weeks.
CREATE TABLE shipments_due (
    order_id  text        PRIMARY KEY,
    shop_id   text        NOT NULL,
    ship_by   timestamptz NOT NULL,
    late      boolean     NOT NULL DEFAULT false,
    judged    boolean     NOT NULL DEFAULT false,
    -- false: overdue, paid before moderation noted deadlines; in no week's rate
    paid_seen boolean     NOT NULL DEFAULT true
);
CREATE INDEX shipments_due_shop ON shipments_due (shop_id, ship_by);
CREATE INDEX shipments_due_ship_by ON shipments_due (ship_by);
CREATE INDEX shipments_due_to_judge ON shipments_due (shop_id, ship_by)
    WHERE late AND NOT judged AND paid_seen;
