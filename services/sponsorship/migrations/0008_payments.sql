-- A company's payments (services/sponsorship/domain/payments.py): each recorded once per
-- (company, reference), with the ledger lines it paid and the credit it left. Written by the
-- PaymentSubmitted handler in the same transaction as the lines it marks paid and the
-- PaymentRecorded it puts in the outbox.
CREATE TABLE payment (
    payment_id   uuid PRIMARY KEY,   -- uuid5 of "<company_id>/<reference>" (domain.payment_id)
    company_id   text NOT NULL,
    reference    text NOT NULL,
    amount_idr   bigint NOT NULL CHECK (amount_idr > 0),
    paid_on      date NOT NULL,      -- the transfer's day (Jakarta), as the company reported it
    credit_idr   bigint NOT NULL CHECK (credit_idr >= 0),  -- the company's credit after it
    recorded_at  timestamptz NOT NULL,
    UNIQUE (company_id, reference)
);

-- Which ledger lines a payment paid (the proof of each paid month). A line is paid once.
CREATE TABLE payment_line (
    payment_id    uuid NOT NULL REFERENCES payment (payment_id),
    enrollment_id uuid NOT NULL,
    month         date NOT NULL,
    amount_idr    bigint NOT NULL CHECK (amount_idr >= 0),
    on_time       boolean NOT NULL,
    PRIMARY KEY (enrollment_id, month),
    FOREIGN KEY (enrollment_id, month) REFERENCES member_month (enrollment_id, month)
);
CREATE INDEX payment_line_payment ON payment_line (payment_id);

-- The money a company paid that no whole line took yet: carried to its next allocation. The
-- row is also what serialises a company's allocations (locked FOR UPDATE first).
CREATE TABLE company_credit (
    company_id  text PRIMARY KEY,
    credit_idr  bigint NOT NULL DEFAULT 0 CHECK (credit_idr >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
