package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/baton-run/baton/models"
)

// This file is the active-run limit (migration 00009): triggers on runs
// keep template_active_runs.active equal to the number of each template's
// unfinished runs, in the transaction that writes the run rows, so the
// count costs one primary-key read whatever the history.

// AdmitRun stores a new run's first row (an unfinished status) when its
// template has fewer than maxActive unfinished runs, in one transaction
// with the check: the insert's trigger increments the template's counter
// (on PostgreSQL, locking its row until the commit, so that concurrent
// starts from any number of instances take turns), and the count read
// after it decides. A start over the limit is rolled back and returns
// models.Busy. maxActive ≤ 0 admits every run.
func (s *Store) AdmitRun(ctx context.Context, row *models.RunRow, maxActive int) error {
	if row.Status.Final() {
		return models.Errorf(models.Invalid, "run %s is %s: only an unfinished run is admitted", row.ID, row.Status)
	}
	var jerr error
	j := func(v any) string {
		out, err := jsonArg(v)
		if err != nil && jerr == nil {
			jerr = err
		}
		return out
	}
	r := *row
	r.Stored = false
	args := runArgs(&r, nil, j)
	if jerr != nil {
		return jerr
	}
	q := batchInsert{s: s, table: "runs", cols: runCols, plain: true}.sql(1)
	tx, err := s.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return s.rawErr(err, "run "+row.ID)
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return s.rawErr(err, "run "+row.ID)
	}
	if maxActive > 0 {
		var active int64
		err := tx.QueryRowContext(ctx, s.rebind("SELECT active FROM template_active_runs WHERE template = ?"), row.Template).Scan(&active)
		if err != nil {
			return s.rawErr(err, "active runs of "+row.Template)
		}
		if active > int64(maxActive) {
			return models.Errorf(models.Busy,
				"template %q already has %d unfinished runs, its limit; wait for some to finish or cancel them (the limit is the server's --max-active-runs)",
				row.Template, active-1)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.rawErr(err, "run "+row.ID)
	}
	return nil
}

// ActiveRuns returns the number of unfinished runs of a template, from its
// counter.
func (s *Store) ActiveRuns(ctx context.Context, template string) (int, error) {
	var active int64
	err := s.readDB.QueryRowContext(ctx, s.rebind("SELECT active FROM template_active_runs WHERE template = ?"), template).Scan(&active)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, s.rawErr(err, "active runs of "+template)
	}
	return int(active), nil
}

// ActiveRunCounts returns every template's counter, and beside it the
// number of unfinished runs counted over the runs table (a scan: for
// checks and tests, never a hot path). The two are equal unless something
// bypassed the triggers.
func (s *Store) ActiveRunCounts(ctx context.Context) (counters, counted map[string]int, err error) {
	counters, counted = map[string]int{}, map[string]int{}
	read := func(q string, into map[string]int, args ...any) error {
		rows, err := s.readDB.QueryContext(ctx, s.rebind(q), args...)
		if err != nil {
			return s.rawErr(err, "active runs")
		}
		defer func() { _ = rows.Close() }()
		for rows.Next() {
			var t string
			var n int64
			if err := rows.Scan(&t, &n); err != nil {
				return s.rawErr(err, "active runs")
			}
			if n != 0 {
				into[t] = int(n)
			}
		}
		return s.rawErr(rows.Err(), "active runs")
	}
	if err := read("SELECT template, active FROM template_active_runs", counters); err != nil {
		return nil, nil, err
	}
	if err := read("SELECT template, COUNT(*) FROM runs WHERE "+unfinishedSQL+" GROUP BY template", counted); err != nil {
		return nil, nil, err
	}
	return counters, counted, nil
}
