-- Workers registered in the programme: one row per NIK.
CREATE TABLE worker (
    worker_id           uuid PRIMARY KEY,
    nik                 char(16) NOT NULL UNIQUE,
    source              text NOT NULL,
    submission_id       text NOT NULL,
    full_name           text NOT NULL,
    birth_date          date NOT NULL,
    sex                 char(1) NOT NULL CHECK (sex IN ('L', 'P')),
    phone               text NOT NULL,
    kecamatan_code      char(2) NOT NULL,
    desa                text,
    occupation          text NOT NULL,
    declared_income_idr bigint CHECK (declared_income_idr >= 0),
    registered_at       timestamptz NOT NULL DEFAULT now()
);

-- Every submission seen, keyed by the partner's own id: a repeat changes nothing. A rejected
-- submission keeps only its reasons (no NIK, no name).
CREATE TABLE submission (
    id            bigserial PRIMARY KEY,
    source        text,
    submission_id text,
    event_id      text NOT NULL UNIQUE,
    outcome       text NOT NULL CHECK (outcome IN ('received', 'registered', 'rejected')),
    worker_id     uuid REFERENCES worker (worker_id),
    reasons       jsonb,
    received_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, submission_id)
);
CREATE INDEX submission_outcome ON submission (outcome);
