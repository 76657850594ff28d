-- What sponsorship told BPJS of each paid member-month (ContributionPaid, services/sponsorship/
-- contributions.py): the payment it was paid from, how often it was sent (1 when first sent in
-- the transaction that marked the line paid; a re-send of an unconfirmed month counts up), and
-- when last. BPJS's ContributionConfirmed moves the line itself to confirmed (member_month); a
-- paid line with no confirmation after some days is what GET /api/reconciliation shows.
CREATE TABLE contribution_sent (
    enrollment_id uuid NOT NULL,
    month         date NOT NULL,
    payment_id    text NOT NULL,
    attempts      integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    first_sent_at timestamptz NOT NULL,
    last_sent_at  timestamptz NOT NULL,
    PRIMARY KEY (enrollment_id, month),
    FOREIGN KEY (enrollment_id, month) REFERENCES member_month (enrollment_id, month)
);
-- The reconciliation's read: paid lines by when they were paid.
CREATE INDEX member_month_paid ON member_month (paid_at) WHERE state = 'paid';
