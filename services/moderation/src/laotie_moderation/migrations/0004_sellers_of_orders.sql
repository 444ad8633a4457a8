-- A counterfeit sold through a creator's distribution sale (达人分销) charges the shop that
-- supplied it as well: the order's creator, from the order's own facts (orders.order.paid),
-- tells moderation who sold what for whom; the report's own shop_id is only the reporter's word.
ALTER TABLE shipments_due ADD COLUMN creator_id text;
