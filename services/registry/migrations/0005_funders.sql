-- Workers another payer already funds: the regency's own APBD scheme PAKE KELAMBU (Perbup Muba
-- 54/2023), a village's APBDes, another sponsor. A NIK on one of these lists is not registered
-- again (ALREADY_FUNDED): the programme must never pay twice for one worker.
--
-- The NIK is never kept in plain here: `nik_hash` is HMAC-SHA256(the registry's NIK key, NIK)
-- (services/registry/funders.py), `nik_masked` (shared.masking.mask_nik) is for display only.
-- The masked form shows 8 of the 16 digits; the other 8 (birth date, serial) are few enough to
-- guess, which is why the hash is keyed: without the key nobody can test a guess against it.

-- One row per imported list (the office's file): where each funder's current list came from.
CREATE TABLE funder_import (
    import_id    uuid PRIMARY KEY,
    import_seq   bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- the order of imports (one clock: this database)
    funder_key   text NOT NULL,        -- the funder's name, case and spacing folded: one list per funder
    funder       text NOT NULL,        -- the name as the office wrote it
    source_code  char(2) NOT NULL CHECK (source_code IN ('SA', 'SD', 'SG', 'SC', 'SB', 'SL')),
    description  text,                 -- who pays, for the worker's message (e.g. "APBD Kabupaten Musi Banyuasin")
    file_name    text NOT NULL,
    nik_count    integer NOT NULL CHECK (nik_count >= 0),
    list_digest  bytea NOT NULL,       -- keyed digest of the list: the same file again changes nothing
    key_id       text NOT NULL,        -- which NIK key hashed the list (a new key makes it unusable)
    imported_at  timestamptz NOT NULL DEFAULT now(),
    imported_by  text NOT NULL,        -- the token's name (shared/http_access.py), not a claim of the client
    replaced_at  timestamptz           -- NULL: the funder's current list
);
-- A funder has one current list: a new import replaces it (in one transaction).
CREATE UNIQUE INDEX funder_import_current ON funder_import (funder_key) WHERE replaced_at IS NULL;

-- The NIKs of the current lists only (a replaced list's rows are deleted with the replacement).
CREATE TABLE funded_nik (
    nik_hash    bytea NOT NULL CHECK (length(nik_hash) = 32),
    import_id   uuid NOT NULL REFERENCES funder_import (import_id),
    nik_masked  text NOT NULL,
    -- The registration's lookup is by hash alone (this key's first column); a NIK may be on
    -- several funders' lists, once on each.
    PRIMARY KEY (nik_hash, import_id)
);
CREATE INDEX funded_nik_import ON funded_nik (import_id);
