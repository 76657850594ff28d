-- Invoices per company per month (services/sponsorship/domain/invoices.py), issued by the
-- scheduled job "invoices" (services/sponsorship/jobs.py) in the transaction that records its
-- run, marks the lines invoiced (member_month.invoice_id) and writes InvoiceIssued to the outbox.
-- The lines stay in member_month: the CSV is rendered from them on demand (GET /api/invoices.csv).
-- One invoice per company and month: the id is a uuid5 of both, so the month is never issued twice.
CREATE TABLE invoice (
    invoice_id   text PRIMARY KEY,
    number       text NOT NULL UNIQUE,
    company_id   text NOT NULL,
    company_name text NOT NULL,
    month        date NOT NULL CHECK (extract(day FROM month) = 1),
    total_idr    bigint NOT NULL CHECK (total_idr > 0),
    lines_count  integer NOT NULL CHECK (lines_count > 0),
    issue_date   date NOT NULL,
    due_date     date NOT NULL CHECK (due_date >= issue_date),
    issued_at    timestamptz NOT NULL,
    UNIQUE (company_id, month)
);
CREATE INDEX member_month_invoice ON member_month (invoice_id) WHERE invoice_id IS NOT NULL;
