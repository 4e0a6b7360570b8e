-- Large JSON values (step inputs and outputs, run inputs and outputs,
-- definitions, signal payloads) are compressed with lz4 instead of the
-- default pglz when they are TOASTed: lz4 compresses many times faster,
-- and with 64 KB step outputs PostgreSQL's compression, not Baton, was
-- what bounded the throughput (docs/performance.md, "Output"). Only values
-- written from now on are affected. A server built without lz4 (or older
-- than PostgreSQL 14) keeps pglz: the change is skipped with a notice,
-- because it is an optimisation, never a requirement.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE 'ALTER TABLE step_runs ALTER COLUMN input SET COMPRESSION lz4, ALTER COLUMN output SET COMPRESSION lz4, ALTER COLUMN error SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE runs ALTER COLUMN inputs SET COMPRESSION lz4, ALTER COLUMN outputs SET COMPRESSION lz4, ALTER COLUMN error SET COMPRESSION lz4, ALTER COLUMN definition SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE run_signals ALTER COLUMN payload SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE template_versions ALTER COLUMN definition SET COMPRESSION lz4';
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'lz4 compression is not available here (%); large values stay pglz-compressed', SQLERRM;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE 'ALTER TABLE step_runs ALTER COLUMN input SET COMPRESSION DEFAULT, ALTER COLUMN output SET COMPRESSION DEFAULT, ALTER COLUMN error SET COMPRESSION DEFAULT';
    EXECUTE 'ALTER TABLE runs ALTER COLUMN inputs SET COMPRESSION DEFAULT, ALTER COLUMN outputs SET COMPRESSION DEFAULT, ALTER COLUMN error SET COMPRESSION DEFAULT, ALTER COLUMN definition SET COMPRESSION DEFAULT';
    EXECUTE 'ALTER TABLE run_signals ALTER COLUMN payload SET COMPRESSION DEFAULT';
    EXECUTE 'ALTER TABLE template_versions ALTER COLUMN definition SET COMPRESSION DEFAULT';
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'column compression cannot be reset here (%)', SQLERRM;
END
$$;
-- +goose StatementEnd
