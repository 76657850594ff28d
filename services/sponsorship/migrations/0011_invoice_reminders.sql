-- The reminders of each invoice (services/sponsorship/domain/invoices.py: invoice_reminder_due),
-- sent by the scheduled job "invoice-reminders" (services/sponsorship/jobs.py) in the transaction
-- that records its run and writes InvoiceReminder to the outbox. One row per (invoice, kind,
-- working days from the due date): the key is what makes each reminder go out once, whichever
-- instance runs the day and however often a day is run again.
CREATE TABLE invoice_reminder (
    invoice_id    text NOT NULL REFERENCES invoice (invoice_id),
    kind          text NOT NULL CHECK (kind IN ('due_soon', 'overdue')),
    days_from_due integer NOT NULL CHECK ((kind = 'due_soon' AND days_from_due < 0) OR (kind = 'overdue' AND days_from_due > 0)),
    reminder_day  date NOT NULL,        -- the reminder's own day (Asia/Jakarta)
    unpaid_lines  integer NOT NULL CHECK (unpaid_lines > 0),
    unpaid_idr    bigint NOT NULL CHECK (unpaid_idr >= 0),
    reminded_at   timestamptz NOT NULL, -- the scheduled run's due moment
    PRIMARY KEY (invoice_id, kind, days_from_due)
);
-- What the job reads each day: the invoices with lines still unpaid.
CREATE INDEX member_month_unpaid_invoice ON member_month (invoice_id)
    WHERE state IN ('invoiced', 'missed');
