-- PostgreSQL's 00005 switches large JSON columns to lz4 compression.
-- SQLite does not compress values, so there is nothing to do here; the
-- file exists so both dialects keep the same migration numbers.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
