-- A shop's own profile text (店铺简介), which moderation scans like a title: each text its
-- revision, so hiding one found to divert (moderation.violation) never hides a later one.
ALTER TABLE shops
    ADD COLUMN profile          text    NOT NULL DEFAULT '',
    ADD COLUMN profile_revision text,
    ADD COLUMN profile_hidden   boolean NOT NULL DEFAULT false;
