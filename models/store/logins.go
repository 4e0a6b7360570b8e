package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/baton-run/baton/migrations"
)

// Failed logins live in the database, not in memory, so that every instance
// sharing the database throttles the same guesses.

// RecordLoginFailure notes a failed login for the name typed (known user or
// not) from ip; a zero at means now.
func (s *Store) RecordLoginFailure(ctx context.Context, user, ip string, at time.Time) error {
	row := loginFailureRow{UserName: user, IP: ip, At: orNow(at)}
	return mapErr(s.db.WithContext(ctx).Create(&row).Error, "login failure")
}

// CountLoginFailures counts the failures for user from ip at or after since.
func (s *Store) CountLoginFailures(ctx context.Context, user, ip string, since time.Time) (int64, error) {
	var n int64
	err := s.read.WithContext(ctx).Model(&loginFailureRow{}).
		Where("user_name = ? AND ip = ? AND at >= ?", user, ip, utc(since)).Count(&n).Error
	if err != nil {
		return 0, mapErr(err, "login failures")
	}
	return n, nil
}

// ClearLoginFailures forgets the failures for user from ip, after a
// successful login.
func (s *Store) ClearLoginFailures(ctx context.Context, user, ip string) error {
	err := s.db.WithContext(ctx).Where("user_name = ? AND ip = ?", user, ip).Delete(&loginFailureRow{}).Error
	return mapErr(err, "login failures")
}

// DeleteLoginFailuresBefore forgets every failure older than before, so the
// table does not grow without bound; it returns how many it deleted.
func (s *Store) DeleteLoginFailuresBefore(ctx context.Context, before time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("at < ?", utc(before)).Delete(&loginFailureRow{})
	if res.Error != nil {
		return 0, mapErr(res.Error, "login failures")
	}
	return res.RowsAffected, nil
}

// ReserveLoginAttempt takes one of the limit attempts that user may make
// from ip since `since`, recording it as a failure at `at` before the
// password is checked: it answers false, recording nothing, when the limit
// is used up. Counting and recording are one atomic step (one writer on
// SQLite; an advisory lock per user and address on PostgreSQL), so parallel
// guesses cannot all pass the count before any is recorded. A successful
// login then clears the failures with ClearLoginFailures.
func (s *Store) ReserveLoginAttempt(ctx context.Context, user, ip string, at, since time.Time, limit int) (bool, error) {
	var ok bool
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if s.dialect == migrations.Postgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(hashtext(?))", "login:"+user+"\n"+ip).Error; err != nil {
				return err
			}
		}
		res := tx.Exec(`INSERT INTO login_failures (user_name, ip, at)
SELECT ?, ?, ? WHERE (SELECT count(*) FROM login_failures WHERE user_name = ? AND ip = ? AND at >= ?) < ?`,
			user, ip, orNow(at), user, ip, utc(since), limit)
		if res.Error != nil {
			return res.Error
		}
		ok = res.RowsAffected == 1
		return nil
	})
	if err != nil {
		return false, mapErr(err, "login failures")
	}
	return ok, nil
}
