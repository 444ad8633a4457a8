-- A shop is a brand (品牌) only once an operator has verified it: a seller asking for `brand`
-- gets a merchant shop with the request pending (`brand_requested`), and Chuanliu, which
-- serves brands only, sees a merchant until then.
ALTER TABLE shops
    ADD COLUMN brand_requested   boolean NOT NULL DEFAULT false,
    ADD COLUMN brand_verified_by text,
    ADD COLUMN brand_verified_at timestamptz;
