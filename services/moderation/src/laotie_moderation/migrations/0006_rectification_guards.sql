-- One resubmission of a product in review at a time (a seller cannot flood the queue);
-- the sweep's late orders of ended weeks found by deadline; a report against a creator's
-- distribution sale charges the supplying shop only for the reporter's own order.
CREATE UNIQUE INDEX rectifications_one_in_review ON rectifications (product_id)
    WHERE status = 'in_review';
CREATE INDEX shipments_due_late_by_deadline ON shipments_due (ship_by)
    WHERE late AND NOT judged AND paid_seen;
ALTER TABLE shipments_due ADD COLUMN buyer_id text, ADD COLUMN product_id text;
