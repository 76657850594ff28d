-- The BPU tariff table every instance prices from: budgets, reservations and the commitment quote
-- (services/sponsorship/repository.py, current_tariff_table). The document is the form the office loads and reads back
-- (services/sponsorship/domain/tariffs.py `table_from_document`); the repository's data file
-- services/sponsorship/tariffs/bpu.json is stored as version 1 by the first instance that reads an
-- empty table. Each replacement (PUT /api/tariffs) is a new version, the highest is in force, and
-- the earlier ones stay: what a past budget was priced with can be read back.
CREATE TABLE tariff_table (
    version    bigint PRIMARY KEY CHECK (version > 0),
    document   jsonb NOT NULL,
    -- sha256 of the canonical document: what each instance's parsed copy is keyed by.
    digest     text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    loaded_by  text NOT NULL,
    loaded_at  timestamptz NOT NULL DEFAULT now()
);
