-- Coverage that lasts (services/sponsorship/domain/coverage.py): enrollments end (their months
-- ran out: 'ended') or lapse (3 consecutive months unpaid: 'lapsed'); either way `ended_on` is the
-- first day not covered, and the worker returns to matching. A fallback enrollment names the one
-- it follows. The notices of a coming end are recorded with the last day they were sent for, so a
-- renewal (which moves coverage_end) makes them due again.
DO $$
DECLARE
    found text;
BEGIN
    SELECT conname INTO found FROM pg_constraint
     WHERE conrelid = 'enrollment'::regclass AND contype = 'c'
       AND pg_get_constraintdef(oid) LIKE '%status%requested%';
    IF found IS NOT NULL THEN
        EXECUTE format('ALTER TABLE enrollment DROP CONSTRAINT %I', found);
    END IF;
END
$$;
ALTER TABLE enrollment ADD CONSTRAINT enrollment_status_check
    CHECK (status IN ('requested', 'confirmed', 'rejected', 'ended', 'lapsed'));
-- What BPJS confirmed stays after the coverage ended or lapsed.
ALTER TABLE enrollment DROP CONSTRAINT enrollment_confirmed_membership;
ALTER TABLE enrollment ADD CONSTRAINT enrollment_confirmed_membership
    CHECK ((status IN ('confirmed', 'ended', 'lapsed')) = (membership IS NOT NULL));
ALTER TABLE enrollment
    ADD COLUMN ended_on date,
    ADD COLUMN follows uuid REFERENCES enrollment (enrollment_id),
    ADD COLUMN notice_30_for date,
    ADD COLUMN notice_7_for date,
    ADD CONSTRAINT enrollment_ended_has_day CHECK (status NOT IN ('ended', 'lapsed') OR ended_on IS NOT NULL);
-- What the daily job reads: the live coverages by their last day.
CREATE INDEX enrollment_live_end ON enrollment (coverage_end) WHERE status = 'confirmed';

-- A commitment whose company let a membership lapse matches no one until it pays what it missed.
ALTER TABLE commitment ADD COLUMN suspended_on date;

-- Renewals applied, once per (commitment, reference).
CREATE TABLE commitment_extension (
    commitment_id text NOT NULL REFERENCES commitment (commitment_id),
    reference     text NOT NULL,
    months        integer NOT NULL CHECK (months > 0),
    budget_idr    bigint NOT NULL CHECK (budget_idr >= 0),
    workers       integer NOT NULL,
    applied_at    timestamptz NOT NULL,
    PRIMARY KEY (commitment_id, reference)
);

-- The programme's numbers, one row per Jakarta day (CoverageReported).
CREATE TABLE coverage_day (
    day                     date PRIMARY KEY,
    workers_covered         integer NOT NULL,
    workers_uncovered       integer NOT NULL,
    unplanned_gaps          integer NOT NULL,
    members_at_risk         integer NOT NULL,
    members_six_paid_months integer NOT NULL,
    reported_at             timestamptz NOT NULL
);
