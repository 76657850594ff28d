-- Company commitments and their use. The CHECKs make over-use impossible, whatever the code does.
CREATE TABLE commitment (
    commitment_id         text PRIMARY KEY,
    seq                   bigserial UNIQUE,
    company_id            text NOT NULL,
    company_name          text NOT NULL,
    kecamatan_codes       text[] NOT NULL,
    whole_regency         boolean NOT NULL,
    slots                 integer NOT NULL CHECK (slots > 0),
    months                integer NOT NULL CHECK (months > 0),
    package               text NOT NULL CHECK (package IN ('JKK_JKM', 'JKK_JKM_JHT')),
    preferred_occupations text[] NOT NULL DEFAULT '{}',
    email                 text,
    webhook_url           text,
    budget_idr            bigint NOT NULL CHECK (budget_idr >= 0),
    slots_used            integer NOT NULL DEFAULT 0,
    budget_used_idr       bigint NOT NULL DEFAULT 0,
    created_at            timestamptz NOT NULL DEFAULT now(),
    CHECK (slots_used BETWEEN 0 AND slots),
    CHECK (budget_used_idr BETWEEN 0 AND budget_idr)
);
CREATE INDEX commitment_open ON commitment (seq) WHERE slots_used < slots;

-- Workers as the registry announced them; status follows their story here.
CREATE TABLE worker (
    worker_id           uuid PRIMARY KEY,
    seq                 bigserial UNIQUE,
    nik                 char(16) NOT NULL,
    full_name           text NOT NULL,
    birth_date          date NOT NULL,
    sex                 char(1) NOT NULL,
    phone               text NOT NULL,
    kecamatan_code      char(2) NOT NULL,
    kecamatan_name      text NOT NULL,
    desa                text,
    occupation          text NOT NULL,
    declared_income_idr bigint,
    registered_at       timestamptz NOT NULL,
    status              text NOT NULL CHECK (status IN ('waitlisted', 'matched', 'enrolled', 'failed')),
    status_changed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX worker_waitlist ON worker (registered_at, seq) WHERE status = 'waitlisted';

CREATE TABLE enrollment (
    enrollment_id    uuid PRIMARY KEY,
    worker_id        uuid NOT NULL REFERENCES worker (worker_id),
    commitment_id    text NOT NULL REFERENCES commitment (commitment_id),
    package          text NOT NULL,
    months           integer NOT NULL,
    coverage_start   date NOT NULL,
    contribution_idr bigint NOT NULL CHECK (contribution_idr >= 0),
    status           text NOT NULL CHECK (status IN ('requested', 'confirmed', 'rejected')),
    kpj_number       text,
    coverage_end     date,
    reason_code      text,
    reason_message   text,
    requested_at     timestamptz NOT NULL DEFAULT now(),
    decided_at       timestamptz
);
-- A worker holds at most one live enrollment: never enrolled (or billed) twice.
CREATE UNIQUE INDEX enrollment_one_live_per_worker ON enrollment (worker_id) WHERE status IN ('requested', 'confirmed');
CREATE INDEX enrollment_commitment ON enrollment (commitment_id);
