package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/baton-run/baton/migrations"
	"github.com/baton-run/baton/models"
)

// This file is run ownership between instances sharing a database
// (migration 00016, issue 17): each instance registers a row in instances
// and renews its lease with one write every ttl/3, whatever the number of
// runs it owns; runs.owner names the owner of each unfinished run. A
// survivor claims the runs of instances whose lease has expired, and every
// commit of run changes carries a fence (RunWrites.Owner) so that an
// instance that lost a run cannot write it any more.
//
// Times are the instances' own clocks (passed in, so that tests drive them
// with a fake clock): instances sharing a database must keep their clocks
// in sync (NTP) to well under the lease's length.

type instanceRow struct {
	ID         string `gorm:"primaryKey"`
	Host       string
	PID        int `gorm:"column:pid"`
	StartedAt  time.Time
	LeaseUntil time.Time
	Draining   bool
}

func (instanceRow) TableName() string { return "instances" }

// RegisterInstance inserts a new instance with its first lease.
func (s *Store) RegisterInstance(ctx context.Context, in models.Instance) error {
	_, err := s.sqlDB.ExecContext(ctx, s.rebind(
		"INSERT INTO instances (id, host, pid, started_at, lease_until, draining) VALUES (?, ?, ?, ?, ?, ?)"),
		in.ID, in.Host, in.PID, utc(in.StartedAt), utc(in.LeaseUntil), in.Draining)
	return s.rawErr(err, "instance "+in.ID)
}

// RenewLease extends the lease of instance id to until, if it has not
// expired at now. It reports false when the lease had expired (or the
// instance is gone): the instance may have lost its runs to a takeover and
// must drop them all (and register again under a new id).
func (s *Store) RenewLease(ctx context.Context, id string, now, until time.Time) (bool, error) {
	res, err := s.sqlDB.ExecContext(ctx, s.rebind(
		"UPDATE instances SET lease_until = ? WHERE id = ? AND lease_until >= ?"), utc(until), id, utc(now))
	if err != nil {
		return false, s.rawErr(err, "lease of instance "+id)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.rawErr(err, "lease of instance "+id)
	}
	return n == 1, nil
}

// ReleaseInstance ends instance id's lease at once, for a graceful stop:
// its unfinished runs are left without an owner, for the next takeover scan
// of any survivor (or the next start) to claim, and its row is deleted.
func (s *Store) ReleaseInstance(ctx context.Context, id string) error {
	tx, err := s.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return s.rawErr(err, "instance "+id)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, s.rebind("UPDATE runs SET owner = '' WHERE owner = ? AND "+unfinishedSQL), id); err != nil {
		return s.rawErr(err, "runs of instance "+id)
	}
	if _, err := tx.ExecContext(ctx, s.rebind("DELETE FROM instances WHERE id = ?"), id); err != nil {
		return s.rawErr(err, "instance "+id)
	}
	return s.rawErr(tx.Commit(), "instance "+id)
}

// ClaimRuns makes instance me the owner of the unfinished runs that have no
// live owner: runs without an owner, runs of instances whose lease expired
// before now, and runs of instances that no longer exist. It returns the
// runs claimed, oldest first; the dead instances' rows are deleted.
//
// On PostgreSQL each dead instance is claimed whole by one survivor (its
// row is locked FOR UPDATE SKIP LOCKED), so survivors scanning at once split
// the dead instances between them and a parent run stays with its children.
// The UPDATE of runs.owner locks the run rows, so it waits for a commit of
// the old owner in progress (baton_fence locks them too) and that commit's
// successor, if any, is fenced.
func (s *Store) ClaimRuns(ctx context.Context, me string, now time.Time) ([]string, error) {
	tx, err := s.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.rawErr(err, "run claim")
	}
	defer func() { _ = tx.Rollback() }()
	q := "SELECT id FROM instances WHERE lease_until < ? AND id <> ? ORDER BY id"
	if s.dialect == migrations.Postgres {
		q += " FOR UPDATE SKIP LOCKED"
	}
	dead, err := queryStrings(ctx, tx, s.rebind(q), utc(now), me)
	if err != nil {
		return nil, s.rawErr(err, "expired instances")
	}
	// Runs without an owner or whose owner is gone; then those of the
	// instances locked above.
	where := "(owner = '' OR NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = runs.owner))"
	args := []any{me}
	if len(dead) > 0 {
		where = "(" + where + " OR owner IN (?" + strings.Repeat(", ?", len(dead)-1) + "))"
		for _, d := range dead {
			args = append(args, d)
		}
	}
	claimed, err := queryStrings(ctx, tx, s.rebind("UPDATE runs SET owner = ? WHERE "+unfinishedSQL+" AND owner <> ? AND "+where+" RETURNING id"),
		append([]any{args[0], me}, args[1:]...)...)
	if err != nil {
		return nil, s.rawErr(err, "run claim")
	}
	for _, d := range dead {
		if _, err := tx.ExecContext(ctx, s.rebind("DELETE FROM instances WHERE id = ?"), d); err != nil {
			return nil, s.rawErr(err, "instance "+d)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, s.rawErr(err, "run claim")
	}
	slices.Sort(claimed) // ids are ULIDs: oldest first
	return claimed, nil
}

// OwnedRunIDs lists the unfinished runs whose owner is instance me, oldest
// first. The engine compares them with the runs it holds: a claim whose
// commit succeeded but whose answer was lost (the connection broke after
// COMMIT) leaves runs owned here that nobody runs.
func (s *Store) OwnedRunIDs(ctx context.Context, me string) ([]string, error) {
	var ids []string
	err := s.read.WithContext(ctx).Model(&runRow{}).
		Where("owner = ?", me).Where(unfinishedSQL).Order("id").Pluck("id", &ids).Error
	if err != nil {
		return nil, mapErr(err, "runs of instance "+me)
	}
	return ids, nil
}

// Instances lists the registered instances, by id.
func (s *Store) Instances(ctx context.Context) ([]models.Instance, error) {
	var rows []instanceRow
	if err := s.read.WithContext(ctx).Order("id").Find(&rows).Error; err != nil {
		return nil, mapErr(err, "instances")
	}
	out := make([]models.Instance, len(rows))
	for i, r := range rows {
		out[i] = models.Instance{ID: r.ID, Host: r.Host, PID: r.PID, StartedAt: r.StartedAt.UTC(),
			LeaseUntil: r.LeaseUntil.UTC(), Draining: r.Draining}
	}
	return out, nil
}

// RunOwners returns the owner of each of the given runs that exists.
func (s *Store) RunOwners(ctx context.Context, ids []string) (map[string]string, error) {
	var rows []struct{ ID, Owner string }
	if err := s.read.WithContext(ctx).Table("runs").Select("id, owner").Where("id IN ?", ids).Scan(&rows).Error; err != nil {
		return nil, mapErr(err, "run owners")
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.ID] = r.Owner
	}
	return out, nil
}

// fenceIDs lists the runs a batch writes, sorted, each once.
func fenceIDs(w *models.RunWrites) []string {
	var ids []string
	for i := range w.Runs {
		ids = append(ids, w.Runs[i].ID)
	}
	for i := range w.StepRuns {
		ids = append(ids, w.StepRuns[i].RunID)
	}
	for i := range w.Events {
		ids = append(ids, w.Events[i].RunID)
	}
	for i := range w.Timers {
		ids = append(ids, w.Timers[i].RunID)
	}
	for i := range w.DeleteTimers {
		ids = append(ids, w.DeleteTimers[i].RunID)
	}
	for i := range w.Signals {
		ids = append(ids, w.Signals[i].RunID)
	}
	for i := range w.DeleteSignals {
		ids = append(ids, w.DeleteSignals[i].RunID)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// fenceTx is baton_fence on SQLite: inside the commit's transaction, the
// runs of the batch owned by another instance. (SQLite has one writer at a
// time and one instance per file, so there is nothing to lock.)
func (s *Store) fenceTx(ctx context.Context, tx *sql.Tx, w *models.RunWrites) error {
	ids := fenceIDs(w)
	var lost []string
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(len(ids), start+500)]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, w.Owner)
		for _, id := range chunk {
			args = append(args, id)
		}
		got, err := queryStrings(ctx, tx, "SELECT id FROM runs WHERE owner <> ? AND id IN (?"+strings.Repeat(", ?", len(chunk)-1)+")", args...)
		if err != nil {
			return s.rawErr(err, "run owners")
		}
		lost = append(lost, got...)
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		return &models.FencedError{Owner: w.Owner, RunIDs: lost}
	}
	return nil
}

// fencedErr recognises baton_fence's error (SQLSTATE BF001, the lost runs
// in its detail).
func fencedErr(err error, owner string) *models.FencedError {
	var pg *pgconn.PgError
	if !errors.As(err, &pg) || pg.Code != "BF001" {
		return nil
	}
	return &models.FencedError{Owner: owner, RunIDs: strings.Split(pg.Detail, ",")}
}

func queryStrings(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
