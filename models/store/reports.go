package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/baton-run/baton/models"
)

// Reports are saved queries of the report builder (migration 00014).

const reportCols = "id, owner, name, description, query, chart, shared_with, created_at, updated_at"

func scanReport(sc interface{ Scan(...any) error }) (models.Report, error) {
	var r models.Report
	var q, shared []byte
	if err := sc.Scan(&r.ID, &r.Owner, &r.Name, &r.Description, &q, &r.Chart, &shared, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return r, err
	}
	if err := json.Unmarshal(q, &r.Query); err != nil {
		return r, err
	}
	if err := json.Unmarshal(shared, &r.SharedWith); err != nil {
		return r, err
	}
	if r.SharedWith == nil {
		r.SharedWith = []models.Role{}
	}
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, nil
}

func reportJSON(r *models.Report) (string, string, error) {
	q, err := json.Marshal(r.Query)
	if err != nil {
		return "", "", models.Errorf(models.Invalid, "the report's query cannot be stored: %v", err)
	}
	if r.SharedWith == nil {
		r.SharedWith = []models.Role{}
	}
	sh, err := json.Marshal(r.SharedWith)
	if err != nil {
		return "", "", models.Errorf(models.Invalid, "sharedWith cannot be stored: %v", err)
	}
	return string(q), string(sh), nil
}

// CreateReport saves a new report and sets its id and times.
func (s *Store) CreateReport(ctx context.Context, r *models.Report) error {
	q, sh, err := reportJSON(r)
	if err != nil {
		return err
	}
	now := utc(time.Now())
	r.CreatedAt, r.UpdatedAt = now, now
	row := s.sqlDB.QueryRowContext(ctx, s.rebind(`INSERT INTO reports (owner, name, description, query, chart, shared_with, created_at, updated_at)
 VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`), r.Owner, r.Name, r.Description, q, r.Chart, sh, now, now)
	return s.rawErr(row.Scan(&r.ID), "report")
}

// ReportByID returns one report.
func (s *Store) ReportByID(ctx context.Context, id int64) (*models.Report, error) {
	row := s.readDB.QueryRowContext(ctx, s.rebind("SELECT "+reportCols+" FROM reports WHERE id = ?"), id)
	r, err := scanReport(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, models.Errorf(models.NotFound, "report %d not found", id)
	}
	if err != nil {
		return nil, s.rawErr(err, "report "+strconv.FormatInt(id, 10))
	}
	return &r, nil
}

// ListReports returns every report, newest change first; callers keep
// those a user may read (models.Report.CanRead).
func (s *Store) ListReports(ctx context.Context) ([]models.Report, error) {
	rows, err := s.readDB.QueryContext(ctx, "SELECT "+reportCols+" FROM reports ORDER BY updated_at DESC, id DESC LIMIT 1000")
	if err != nil {
		return nil, s.rawErr(err, "reports")
	}
	defer func() { _ = rows.Close() }()
	out := []models.Report{}
	for rows.Next() {
		r, err := scanReport(rows)
		if err != nil {
			return nil, s.rawErr(err, "reports")
		}
		out = append(out, r)
	}
	return out, s.rawErr(rows.Err(), "reports")
}

// UpdateReport replaces a report's name, description, query, chart and
// sharing; owner and creation time stay.
func (s *Store) UpdateReport(ctx context.Context, r *models.Report) error {
	q, sh, err := reportJSON(r)
	if err != nil {
		return err
	}
	r.UpdatedAt = utc(time.Now())
	res, err := s.sqlDB.ExecContext(ctx, s.rebind(`UPDATE reports SET name = ?, description = ?, query = ?, chart = ?, shared_with = ?, updated_at = ?
 WHERE id = ?`), r.Name, r.Description, q, r.Chart, sh, r.UpdatedAt, r.ID)
	if err != nil {
		return s.rawErr(err, "report")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return models.Errorf(models.NotFound, "report %d not found", r.ID)
	}
	return nil
}

// DeleteReport deletes a report.
func (s *Store) DeleteReport(ctx context.Context, id int64) error {
	res, err := s.sqlDB.ExecContext(ctx, s.rebind("DELETE FROM reports WHERE id = ?"), id)
	if err != nil {
		return s.rawErr(err, "report")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return models.Errorf(models.NotFound, "report %d not found", id)
	}
	return nil
}

// RunCounts is how many runs are unfinished, by status (queued, running,
// waiting), read through the partial index of unfinished runs.
func (s *Store) RunCounts(ctx context.Context) (map[models.RunStatus]int64, error) {
	rows, err := s.readDB.QueryContext(ctx, "SELECT status, COUNT(*) FROM runs WHERE status NOT IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'rolled_back') GROUP BY status")
	if err != nil {
		return nil, s.rawErr(err, "run counts")
	}
	defer func() { _ = rows.Close() }()
	out := map[models.RunStatus]int64{}
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, s.rawErr(err, "run counts")
		}
		out[models.RunStatus(st)] = n
	}
	return out, s.rawErr(rows.Err(), "run counts")
}

// OpenConnections is the number of open database connections of this
// process (both pools on SQLite).
func (s *Store) OpenConnections() int {
	n := s.sqlDB.Stats().OpenConnections
	if s.readDB != s.sqlDB {
		n += s.readDB.Stats().OpenConnections
	}
	return n
}
