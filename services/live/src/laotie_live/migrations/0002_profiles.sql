-- Anchors' and creators' own profile text (简介), which moderation scans like a title: each
-- text its revision, so hiding one found to divert (moderation.violation) never hides a
-- later one.
CREATE TABLE profiles (
    owner_type  text        NOT NULL CHECK (owner_type IN ('anchor', 'creator')),
    owner_id    text        NOT NULL,
    text        text        NOT NULL,
    revision_id text        NOT NULL UNIQUE,
    hidden      boolean     NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL,
    -- one profile per identity: an anchor is not also a creator with a second history
    PRIMARY KEY (owner_id)
);
