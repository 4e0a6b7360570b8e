package store

import (
	"context"
	"time"
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
