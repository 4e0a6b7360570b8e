package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/baton-run/baton/models"
)

type lockRow struct {
	LockKey    string `gorm:"primaryKey"`
	Holder     string
	Token      string
	AcquiredAt time.Time
	ExpiresAt  time.Time
}

func (lockRow) TableName() string { return "draft_locks" }

func (r *lockRow) model() *models.DraftLock {
	return &models.DraftLock{Key: r.LockKey, Holder: r.Holder, Token: r.Token,
		AcquiredAt: r.AcquiredAt.UTC(), ExpiresAt: r.ExpiresAt.UTC()}
}

func checkLockArgs(key, token string, ttl time.Duration) error {
	switch {
	case key == "":
		return models.Errorf(models.Invalid, "a lock needs a key")
	case token == "":
		return models.Errorf(models.Invalid, "a lock needs a token")
	case ttl <= 0:
		return models.Errorf(models.Invalid, "a lock needs a positive duration, not %s", ttl)
	}
	return nil
}

// AcquireLock takes the lock named key for holder's tab (token) until
// now+ttl. It succeeds when the lock is free, expired, or already held with
// the same token (then it is renewed). When someone else holds it, it
// returns Conflict naming the holder, and the current lock, so the page can
// say who holds it and until when.
func (s *Store) AcquireLock(ctx context.Context, key, holder, token string, ttl time.Duration, at time.Time) (*models.DraftLock, error) {
	if err := checkLockArgs(key, token, ttl); err != nil {
		return nil, err
	}
	if holder == "" {
		return nil, models.Errorf(models.Invalid, "a lock needs a holder")
	}
	at = utc(at)
	row := lockRow{LockKey: key, Holder: holder, Token: token, AcquiredAt: at, ExpiresAt: utc(at.Add(ttl))}
	db := s.db.WithContext(ctx)
	// Two tries: the row may expire or be released between the statements,
	// which only means the second try will find it free.
	for range 2 {
		// Renew our own lock, or take over an expired one, in one statement
		// so that two tabs racing for an expired lock cannot both win.
		res := db.Model(&lockRow{}).
			Where("lock_key = ? AND (token = ? OR expires_at <= ?)", key, token, at).
			Updates(map[string]any{"holder": holder, "token": token, "acquired_at": at, "expires_at": row.ExpiresAt})
		if res.Error != nil {
			return nil, mapErr(res.Error, "lock "+key)
		}
		if res.RowsAffected == 1 {
			return row.model(), nil
		}
		res = db.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
		if res.Error != nil {
			return nil, mapErr(res.Error, "lock "+key)
		}
		if res.RowsAffected == 1 {
			return row.model(), nil
		}
		cur, err := s.Lock(ctx, key, at)
		if err != nil {
			return nil, err
		}
		if cur != nil {
			return cur, models.Errorf(models.Conflict, "%s is editing this draft (lock held until %s)", cur.Holder, cur.ExpiresAt.Format(time.RFC3339))
		}
	}
	return nil, models.Errorf(models.Conflict, "lock %s is changing hands; try again", key)
}

// RenewLock extends the lock held with token to at+ttl: the heartbeat. It
// returns Conflict when the lock has expired or passed to someone else,
// so the tab learns that it has lost it.
func (s *Store) RenewLock(ctx context.Context, key, token string, ttl time.Duration, at time.Time) (*models.DraftLock, error) {
	if err := checkLockArgs(key, token, ttl); err != nil {
		return nil, err
	}
	at = utc(at)
	res := s.db.WithContext(ctx).Model(&lockRow{}).
		Where("lock_key = ? AND token = ? AND expires_at > ?", key, token, at).
		Update("expires_at", utc(at.Add(ttl)))
	if res.Error != nil {
		return nil, mapErr(res.Error, "lock "+key)
	}
	if res.RowsAffected == 0 {
		return nil, models.Errorf(models.Conflict, "the lock on %s has expired or is held by someone else", key)
	}
	var row lockRow
	if err := s.db.WithContext(ctx).Where("lock_key = ?", key).Take(&row).Error; err != nil {
		return nil, mapErr(err, "lock "+key)
	}
	return row.model(), nil
}

// ReleaseLock gives up the lock held with token. Releasing a lock that has
// already expired or passed on is not an error: the caller no longer holds
// it either way.
func (s *Store) ReleaseLock(ctx context.Context, key, token string) error {
	if key == "" || token == "" {
		return models.Errorf(models.Invalid, "releasing a lock needs its key and token")
	}
	err := s.db.WithContext(ctx).Where("lock_key = ? AND token = ?", key, token).Delete(&lockRow{}).Error
	return mapErr(err, "lock "+key)
}

// Lock returns the lock named key if someone holds it at the given time,
// or nil when it is free (never taken, released or expired).
func (s *Store) Lock(ctx context.Context, key string, at time.Time) (*models.DraftLock, error) {
	row, err := liveLock(s.db.WithContext(ctx), key, at)
	if row == nil || err != nil {
		return nil, err
	}
	return row.model(), nil
}

// liveLock reads the lock named key if it is held at the given time, nil
// when it is free; db may be a transaction, so a change can be decided on
// the same view of the lock as the rest of its reads.
func liveLock(db *gorm.DB, key string, at time.Time) (*lockRow, error) {
	var row lockRow
	err := db.Where("lock_key = ? AND expires_at > ?", key, utc(at)).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr(err, "lock "+key)
	}
	return &row, nil
}
