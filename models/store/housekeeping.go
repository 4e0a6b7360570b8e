package store

import (
	"context"
	"time"

	"gorm.io/gorm/clause"
)

// Housekeeping defaults: how long each kind of bookkeeping row is kept
// once it no longer serves its purpose. Each is longer than the window in
// which the row is read (a login window of 15 minutes, a webhook signature
// tolerance of 5 minutes, clock skew between instances for fire claims),
// so pruning never lets a refused attempt, a replay or a double fire in.
const (
	DefaultKeepLoginFailures = 24 * time.Hour
	DefaultKeepDeliveries    = 24 * time.Hour
	DefaultKeepScheduleFires = 30 * 24 * time.Hour
)

// HousekeepingOptions says what Housekeep removes.
type HousekeepingOptions struct {
	// Now is the time ages are measured from (default time.Now()).
	Now time.Time
	// Retention is the server's run retention (Prune's OlderThan): 0 keeps
	// the runs of templates without a retention of their own.
	Retention time.Duration
	// KeepLoginFailures, KeepDeliveries and KeepScheduleFires override the
	// defaults above (0: the default).
	KeepLoginFailures, KeepDeliveries, KeepScheduleFires time.Duration
}

// HousekeepingStats counts the rows Housekeep removed, by kind.
type HousekeepingStats struct {
	Sessions      int64      `json:"sessions"`
	LoginFailures int64      `json:"loginFailures"`
	ScheduleFires int64      `json:"scheduleFires"`
	Deliveries    int64      `json:"deliveries"`
	Runs          PruneStats `json:"runs"`
}

// Housekeep removes what has outlived its use: expired sessions, old
// login failures, old schedule-fire claims and webhook delivery ids, and
// finished runs past their retention (Prune). It goes on after a failure
// of one kind and returns the first error with what it did remove.
func (s *Store) Housekeep(ctx context.Context, opts HousekeepingOptions) (HousekeepingStats, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	keep := func(d, def time.Duration) time.Time {
		if d <= 0 {
			d = def
		}
		return opts.Now.Add(-d)
	}
	var st HousekeepingStats
	var first error
	note := func(err error) {
		if first == nil && err != nil {
			first = err
		}
	}
	var err error
	st.Sessions, err = s.DeleteExpiredSessions(ctx, opts.Now)
	note(err)
	st.LoginFailures, err = s.DeleteLoginFailuresBefore(ctx, keep(opts.KeepLoginFailures, DefaultKeepLoginFailures))
	note(err)
	st.ScheduleFires, err = s.PruneScheduleFires(ctx, keep(opts.KeepScheduleFires, DefaultKeepScheduleFires))
	note(err)
	st.Deliveries, err = s.PruneDeliveries(ctx, keep(opts.KeepDeliveries, DefaultKeepDeliveries))
	note(err)
	st.Runs, err = s.Prune(ctx, PruneOptions{OlderThan: opts.Retention, Now: opts.Now})
	note(err)
	return st, first
}

// housekeepingClaimRow is one claimed round of a housekeeping job.
type housekeepingClaimRow struct {
	Job       string    `gorm:"primaryKey"`
	Slot      time.Time `gorm:"primaryKey"`
	ClaimedBy string
	ClaimedAt time.Time
}

func (housekeepingClaimRow) TableName() string { return "housekeeping_claims" }

// ClaimHousekeeping claims the round slot of job for instance by and
// reports whether this caller won: instances sharing a database each ask
// for the same slot (the start of the current interval) and only one does
// the work. Claims older than a day before slot are removed on the way.
func (s *Store) ClaimHousekeeping(ctx context.Context, job string, slot time.Time, by string) (bool, error) {
	slot = utc(slot)
	res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).
		Create(&housekeepingClaimRow{Job: job, Slot: slot, ClaimedBy: by, ClaimedAt: now()})
	if res.Error != nil {
		return false, mapErr(res.Error, "housekeeping claim")
	}
	if res.RowsAffected == 0 {
		return false, nil
	}
	err := s.db.WithContext(ctx).Where("job = ? AND slot < ?", job, slot.Add(-24*time.Hour)).Delete(&housekeepingClaimRow{}).Error
	return true, mapErr(err, "old housekeeping claims")
}
