-- A reward's day and the net GMV it was earned on: a creator's rewards of one day follow a
-- concave, capped curve of their GMV that day, are booked on that day's budget ledger
-- (budget_days.granted, with the grants), and a refund withdraws its share there.
ALTER TABLE rewards
    ADD COLUMN day     date,
    ADD COLUMN net_fen bigint;
CREATE INDEX rewards_creator_day ON rewards (creator_id, day);
