package store

import (
	"context"
	"database/sql"
	"time"
)

// PruneOptions says which finished runs Prune deletes.
type PruneOptions struct {
	// OlderThan is the server's retention: runs that finished longer ago
	// are deleted. 0 keeps runs of templates without their own retention.
	OlderThan time.Duration
	// Template limits pruning to one template ("" for all).
	Template string
	// DryRun counts what would be deleted and deletes nothing.
	DryRun bool
	// Batch is the number of runs per transaction (default 500), so the
	// database is never locked for long.
	Batch int
	// Progress, when set, is called after each batch with the template and
	// the runs deleted (or counted) so far.
	Progress func(template string, runs int)
	// Now is the time ages are measured from (default time.Now()).
	Now time.Time
}

// PruneStats is what Prune deleted (or would delete), per template.
type PruneStats struct {
	Runs       int            `json:"runs"`
	ByTemplate map[string]int `json:"byTemplate"`
}

// Prune deletes finished runs that finished before their template's
// retention (templates.retention_seconds, else opts.OlderThan), with their
// step attempts, events, timers and signals (ON DELETE CASCADE), in
// transactions of opts.Batch runs. A run is kept while its parent (the run
// that started it as a subworkflow, or the run it re-runs) is unfinished,
// because that parent still reads it. Unfinished runs are never deleted,
// so the active-run counters do not move. Prune first counts every
// finished run into the analytics rollups (RollUp) and deletes counted runs
// only, so the figures of deleted runs stay; Prune removes the rows.
func (s *Store) Prune(ctx context.Context, opts PruneOptions) (PruneStats, error) {
	if opts.Batch <= 0 {
		opts.Batch = 500
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	st := PruneStats{ByTemplate: map[string]int{}}
	if _, err := s.RollUp(ctx); err != nil {
		return st, err
	}
	templates, err := s.runTemplates(ctx, opts.Template)
	if err != nil {
		return st, err
	}
	overrides, err := s.retentionOverrides(ctx)
	if err != nil {
		return st, err
	}
	for _, tpl := range templates {
		age := opts.OlderThan
		if o, ok := overrides[tpl]; ok {
			age = o
		}
		if age <= 0 {
			continue
		}
		cutoff := utc(opts.Now.Add(-age))
		n, err := s.pruneTemplate(ctx, tpl, cutoff, opts)
		if n > 0 {
			st.ByTemplate[tpl] = n
			st.Runs += n
		}
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// prunable selects up to ? of a template's runs that finished before a
// cutoff and that no unfinished run refers to as its parent. The
// (template, finished_at) index serves it.
const prunable = `SELECT r.id FROM runs r
 WHERE r.template = ? AND r.finished_at < ? AND ` + "r." + `status IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back')
   AND r.id > ? AND r.rolled = 1
   AND NOT EXISTS (SELECT 1 FROM runs p WHERE p.id = r.parent_run_id AND p.status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back'))
 ORDER BY r.id LIMIT ?`

func (s *Store) pruneTemplate(ctx context.Context, tpl string, cutoff time.Time, opts PruneOptions) (int, error) {
	total := 0
	after := ""
	for {
		ids, err := s.prunableIDs(ctx, tpl, cutoff, after, opts.Batch)
		if err != nil || len(ids) == 0 {
			return total, err
		}
		after = ids[len(ids)-1]
		if !opts.DryRun {
			if err := s.deleteRuns(ctx, ids); err != nil {
				return total, err
			}
		}
		total += len(ids)
		if opts.Progress != nil {
			opts.Progress(tpl, total)
		}
		if len(ids) < opts.Batch {
			return total, nil
		}
	}
}

func (s *Store) prunableIDs(ctx context.Context, tpl string, cutoff time.Time, after string, limit int) ([]string, error) {
	rows, err := s.readDB.QueryContext(ctx, s.rebind(prunable), tpl, cutoff, after, limit)
	if err != nil {
		return nil, s.rawErr(err, "runs to prune")
	}
	defer func() { _ = rows.Close() }()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, s.rawErr(err, "runs to prune")
		}
		ids = append(ids, id)
	}
	return ids, s.rawErr(rows.Err(), "runs to prune")
}

// deleteRuns deletes runs in one transaction; their rows in step_runs,
// run_events, run_timers and run_signals go with them (ON DELETE CASCADE).
// The status is checked again: a run retried since it was selected is
// active again and stays.
func (s *Store) deleteRuns(ctx context.Context, ids []string) error {
	tx, err := s.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return s.rawErr(err, "prune")
	}
	defer func() { _ = tx.Rollback() }()
	stmt, err := tx.PrepareContext(ctx, s.rebind("DELETE FROM runs WHERE id = ? AND rolled = 1 AND "+finalSQL))
	if err != nil {
		return s.rawErr(err, "prune")
	}
	defer func() { _ = stmt.Close() }()
	for _, id := range ids {
		if _, err := stmt.ExecContext(ctx, id); err != nil {
			return s.rawErr(err, "run "+id)
		}
	}
	return s.rawErr(tx.Commit(), "prune")
}

// finalSQL is true of a run in a final status.
const finalSQL = "status IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back')"

// runTemplates lists the distinct template keys of stored runs (one when
// only is set), reading the (template, id) index with one lookup per key
// (a loose index scan), not the whole table.
func (s *Store) runTemplates(ctx context.Context, only string) ([]string, error) {
	if only != "" {
		return []string{only}, nil
	}
	var out []string
	var cur sql.NullString
	q := s.rebind("SELECT MIN(template) FROM runs WHERE template > ?")
	for {
		if err := s.readDB.QueryRowContext(ctx, q, cur.String).Scan(&cur); err != nil {
			return nil, s.rawErr(err, "templates of runs")
		}
		if !cur.Valid {
			return out, nil
		}
		out = append(out, cur.String)
	}
}

// retentionOverrides returns the templates with their own retention.
func (s *Store) retentionOverrides(ctx context.Context) (map[string]time.Duration, error) {
	rows, err := s.readDB.QueryContext(ctx, "SELECT key, retention_seconds FROM templates WHERE retention_seconds IS NOT NULL")
	if err != nil {
		return nil, s.rawErr(err, "template retention")
	}
	defer func() { _ = rows.Close() }()
	out := map[string]time.Duration{}
	for rows.Next() {
		var k string
		var sec int64
		if err := rows.Scan(&k, &sec); err != nil {
			return nil, s.rawErr(err, "template retention")
		}
		out[k] = time.Duration(sec) * time.Second
	}
	return out, s.rawErr(rows.Err(), "template retention")
}
