-- The member-month ledger (services/sponsorship/domain/ledger.py): one line per sponsored worker
-- and calendar month, written when BPJS confirms the enrollment (in the same transaction), its
-- contribution priced by the tariff table for that month, and its state:
-- expected -> invoiced -> paid -> confirmed (by BPJS), or missed (unpaid after its due date).
-- The transitions are the domain's (refused there); the CHECKs keep each state's evidence.
CREATE TABLE member_month (
    enrollment_id    uuid NOT NULL REFERENCES enrollment (enrollment_id),
    worker_id        uuid NOT NULL REFERENCES worker (worker_id),
    commitment_id    text NOT NULL REFERENCES commitment (commitment_id),
    company_id       text NOT NULL,
    month            date NOT NULL CHECK (extract(day FROM month) = 1),
    contribution_idr bigint NOT NULL CHECK (contribution_idr >= 0),
    discount         text,          -- the discount that priced the month (PP 50/2025), if any
    state            text NOT NULL DEFAULT 'expected'
                     CHECK (state IN ('expected', 'invoiced', 'paid', 'confirmed', 'missed')),
    invoice_id       text,          -- the invoice it is on (services/sponsorship/domain/invoices.py)
    invoiced_at      timestamptz,
    paid_at          timestamptz,
    confirmed_at     timestamptz,
    missed_at        timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (enrollment_id, month),
    CHECK (state <> 'invoiced' OR invoice_id IS NOT NULL),
    CHECK (state NOT IN ('paid', 'confirmed') OR paid_at IS NOT NULL),
    CHECK (state <> 'confirmed' OR confirmed_at IS NOT NULL),
    CHECK (state <> 'missed' OR missed_at IS NOT NULL)
);
-- What the invoices read: a company's (or commitment's) lines of a month still to be billed.
CREATE INDEX member_month_company ON member_month (company_id, month, state);
CREATE INDEX member_month_commitment ON member_month (commitment_id, month);
CREATE INDEX member_month_worker ON member_month (worker_id, month);

-- Budgets drawn from the ledger: at confirmation the enrollment's reservation (what the request
-- was priced at) hands over to its lines, and the commitment's budget_used_idr moves by their
-- difference (none, unless the tariff table changed between request and confirmation, or BPJS
-- moved the start). BPJS has enrolled the worker by then, so their months are owed even when the
-- difference takes the commitment past its budget: the over-use is shown (GET /api/report), and a
-- new reservation is still refused unless it fits (reserve_slot's condition). So the CHECK keeps
-- use from going negative only.
DO $$
DECLARE
    found text;
BEGIN
    SELECT conname INTO found FROM pg_constraint
     WHERE conrelid = 'commitment'::regclass AND contype = 'c'
       AND pg_get_constraintdef(oid) LIKE '%budget_used_idr%budget_idr%';
    IF found IS NOT NULL THEN
        EXECUTE format('ALTER TABLE commitment DROP CONSTRAINT %I', found);
    END IF;
END
$$;
ALTER TABLE commitment ADD CONSTRAINT commitment_budget_used_not_negative CHECK (budget_used_idr >= 0);
