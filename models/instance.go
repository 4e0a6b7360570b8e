package models

import (
	"fmt"
	"strings"
	"time"
)

// Instance is one `baton serve` process sharing a PostgreSQL database with
// others (issue 17). It owns the unfinished runs whose owner is its ID for
// as long as its lease lasts; it renews the lease with one write every
// third of the lease's length.
type Instance struct {
	ID         string
	Host       string
	PID        int
	StartedAt  time.Time
	LeaseUntil time.Time
	Draining   bool
}

// FencedError is returned by a commit of run changes (RunWrites.Owner set)
// that touched runs owned by another instance: nothing of the batch was
// committed. RunIDs are the runs lost; the rest of the batch may be
// committed again without them.
type FencedError struct {
	Owner  string
	RunIDs []string
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("instance %s no longer owns runs %s (another instance took them over)", e.Owner, strings.Join(e.RunIDs, ", "))
}
