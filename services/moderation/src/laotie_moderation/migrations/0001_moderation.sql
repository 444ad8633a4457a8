-- Violations, penalties and their measures, the points ledger, appeals and buyer reports.

CREATE TABLE subjects (
    subject_type  text        NOT NULL,
    subject_id    text        NOT NULL,
    closed_at     timestamptz,              -- 100 points: closed for good
    closed_by     text,
    PRIMARY KEY (subject_type, subject_id)
);

CREATE TABLE violations (
    -- Derived from (code, source, subject): the same fact seen twice is one violation.
    violation_id     text        PRIMARY KEY,
    subject_type     text        NOT NULL,
    subject_id       text        NOT NULL,
    shop_id          text,
    code             text        NOT NULL,
    severity         text        NOT NULL,
    degree           text        NOT NULL,
    step             integer     NOT NULL,
    evidence         jsonb       NOT NULL,
    decided_by       text        NOT NULL,
    policy_version   text        NOT NULL,
    source_event_id  text,
    occurred_at      timestamptz NOT NULL
);
CREATE INDEX violations_subject ON violations (subject_type, subject_id, code, occurred_at);

CREATE TABLE penalties (
    penalty_id       text        PRIMARY KEY,
    violation_id     text        NOT NULL UNIQUE REFERENCES violations,
    subject_type     text        NOT NULL,
    subject_id       text        NOT NULL,
    shop_id          text,
    code             text        NOT NULL,
    measures         jsonb       NOT NULL,
    points           integer     NOT NULL,
    -- pending until the appeal window lapses or an appeal fails; cancelled if upheld.
    points_status    text        NOT NULL CHECK (points_status IN ('none', 'pending', 'booked',
                                                                   'cancelled')),
    status           text        NOT NULL CHECK (status IN ('active', 'revoked', 'expired')),
    applied_at       timestamptz NOT NULL,
    appeal_deadline  timestamptz NOT NULL,
    expires_at       timestamptz,           -- end of the last timed measure
    revoked_at       timestamptz,
    expired_at       timestamptz
);
CREATE INDEX penalties_subject ON penalties (subject_type, subject_id, applied_at);
CREATE INDEX penalties_points_due ON penalties (appeal_deadline) WHERE points_status = 'pending';
CREATE INDEX penalties_expiring ON penalties (expires_at) WHERE status = 'active';

-- Booked points, per Asia/Shanghai calendar year (totals under 100 start again on 1 January).
CREATE TABLE points_ledger (
    penalty_id    text        PRIMARY KEY REFERENCES penalties,
    subject_type  text        NOT NULL,
    subject_id    text        NOT NULL,
    points        integer     NOT NULL,
    year          integer     NOT NULL,
    booked_at     timestamptz NOT NULL
);
CREATE INDEX points_ledger_subject ON points_ledger (subject_type, subject_id, year);

CREATE TABLE appeals (
    appeal_id    text        PRIMARY KEY,
    penalty_id   text        NOT NULL UNIQUE REFERENCES penalties,
    filed_by     text        NOT NULL,
    reason       text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('pending', 'upheld', 'rejected')),
    filed_at     timestamptz NOT NULL,
    decided_at   timestamptz,
    decided_by   text,
    note         text        NOT NULL DEFAULT ''
);

CREATE TABLE reports (
    report_id     text        PRIMARY KEY,
    reporter_id   text        NOT NULL,
    subject_type  text        NOT NULL,
    subject_id    text        NOT NULL,
    shop_id       text,
    kind          text        NOT NULL CHECK (kind IN ('counterfeit', 'not_as_described',
                                                       'diversion')),
    order_id      text,
    product_id    text,
    text          text        NOT NULL,
    status        text        NOT NULL CHECK (status IN ('pending', 'upheld', 'dismissed')),
    created_at    timestamptz NOT NULL,
    decided_at    timestamptz,
    decided_by    text,
    violation_id  text
);
