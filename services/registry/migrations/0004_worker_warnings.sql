-- What the registry could not confirm about a worker but did not refuse (the NIK's birth-date or
-- sex digits disagree with the stated ones, its area code is in no table): the same list of
-- {field, code, message} as on the worker's registry.worker-registered.v1 event, kept with the
-- worker so that the office can find them when BPJS's Dukcapil check answers. No personal data
-- (the messages never repeat the input). Workers registered before this migration had none.
ALTER TABLE worker ADD COLUMN warnings jsonb NOT NULL DEFAULT '[]'::jsonb
    CHECK (jsonb_typeof(warnings) = 'array');
