-- The registry's warnings on a worker (registry.worker-registered.v1 `warnings`, their codes, e.g.
-- NIK_BIRTH_DATE_MISMATCH): the NIK's among them travel on the enrollment request
-- (`nik_warnings`), for BPJS's Dukcapil check to decide. Workers announced before: none.
ALTER TABLE worker ADD COLUMN warnings text[] NOT NULL DEFAULT '{}';

-- What BPJS's confirmation did (bpjs.enrollment-confirmed.v1 `membership`): a new membership, an
-- active member's own KPJ number continued, or a lapsed member's resumed; NULL until confirmed.
-- Enrollments confirmed before the field existed were all new memberships.
ALTER TABLE enrollment ADD COLUMN membership text CHECK (membership IN ('new', 'continued', 'resumed'));
UPDATE enrollment SET membership = 'new' WHERE status = 'confirmed';
ALTER TABLE enrollment ADD CONSTRAINT enrollment_confirmed_membership
    CHECK ((status = 'confirmed') = (membership IS NOT NULL));
