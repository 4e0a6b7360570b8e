package engine

import (
	"context"

	"github.com/baton-run/baton/models"
)

// Store is what the engine needs from persistence. *store.Store (package
// models/store) implements it on SQLite and PostgreSQL. Each method is atomic.
//
// Group commit lives in the engine: one writer goroutine gathers the writes
// of every run into one ApplyRunWrites call (one transaction), so a thousand
// concurrent runs cost a few transactions per millisecond.
type Store interface {
	// ApplyRunWrites applies one batch in one transaction.
	ApplyRunWrites(ctx context.Context, w *models.RunWrites) error
	// LoadRun returns everything stored about one run; models.NotFound when
	// there is no such run.
	LoadRun(ctx context.Context, id string) (*models.RunSnapshot, error)
	// UnfinishedRunIDs lists the runs whose status is not final, oldest first.
	UnfinishedRunIDs(ctx context.Context) ([]string, error)
	// ListRuns lists runs, newest first, without their steps.
	ListRuns(ctx context.Context, f models.RunFilter) ([]models.Run, error)
	// AdmitRun stores a new run's first row when its template has fewer
	// than maxActive unfinished runs, checking and inserting in one
	// transaction so that the limit holds across instances sharing the
	// database; models.Busy when the limit is reached (maxActive ≤ 0: no
	// limit). The engine's later writes of the run update that row.
	AdmitRun(ctx context.Context, row *models.RunRow, maxActive int) error
	// ActiveRuns returns the number of unfinished runs of a template, in
	// constant time (a counter the store keeps with the run rows).
	ActiveRuns(ctx context.Context, template string) (int, error)
	// RunEvents returns a run's events with seq > afterSeq, in order, at most
	// limit of them (limit ≤ 0: all).
	RunEvents(ctx context.Context, runID string, afterSeq int64, limit int) ([]models.Event, error)
}
