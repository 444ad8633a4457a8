-- What refunds withdrew from each reward (its impressions are what is left of it), so a
-- creator's contribution shows both.
ALTER TABLE rewards ADD COLUMN withdrawn bigint NOT NULL DEFAULT 0;
