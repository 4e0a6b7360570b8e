package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/baton-run/baton/models"
)

// CreateSession stores sess (only the hash of its cookie value) and sets
// its ID and, when zero, its CreatedAt; a zero LastSeen becomes CreatedAt.
// It returns Invalid without a hash or an expiry, NotFound when UserID names
// no user and Conflict when the hash is already stored.
func (s *Store) CreateSession(ctx context.Context, sess *models.Session) error {
	switch {
	case sess.Hash == "":
		return models.Errorf(models.Invalid, "a session needs a hash")
	case sess.ExpiresAt.IsZero():
		return models.Errorf(models.Invalid, "a session needs an expiry time")
	}
	row := sessionRow{
		UserID:    sess.UserID,
		Hash:      sess.Hash,
		CSRFToken: sess.CSRFToken,
		CreatedAt: orNow(sess.CreatedAt),
		ExpiresAt: utc(sess.ExpiresAt),
		IP:        sess.IP,
		UserAgent: sess.UserAgent,
	}
	row.LastSeen = row.CreatedAt
	if !sess.LastSeen.IsZero() {
		row.LastSeen = utc(sess.LastSeen)
	}
	err := s.db.WithContext(ctx).Create(&row).Error
	if errors.Is(err, gorm.ErrForeignKeyViolated) {
		return models.Errorf(models.NotFound, "user %d not found", sess.UserID)
	}
	if err != nil {
		return mapErr(err, "a session with this hash")
	}
	sess.ID, sess.CreatedAt, sess.LastSeen = row.ID, row.CreatedAt, row.LastSeen
	return nil
}

type sessionWithUser struct {
	Session sessionRow `gorm:"embedded"`
	User    userRow    `gorm:"embedded;embeddedPrefix:u_"`
}

// SessionByHash returns the session with that hash and its user, unless it
// has expired by now.
func (s *Store) SessionByHash(ctx context.Context, hash string, now time.Time) (*models.Session, *models.User, error) {
	var row sessionWithUser
	err := s.read.WithContext(ctx).Table("sessions").
		Select("sessions.*, "+userColumns).
		Joins("JOIN users ON users.id = sessions.user_id").
		Where("sessions.hash = ? AND sessions.expires_at > ?", hash, utc(now)).
		Take(&row).Error
	if err != nil {
		return nil, nil, mapErr(err, "session")
	}
	return row.Session.model(), row.User.model(), nil
}

// TouchSession records when a session was last seen.
func (s *Store) TouchSession(ctx context.Context, id int64, at time.Time) error {
	res := s.db.WithContext(ctx).Model(&sessionRow{}).Where("id = ?", id).Update("last_seen", orNow(at))
	return notFoundIfNone(res, fmt.Sprintf("session %d", id))
}

// DeleteSession ends a session; an unknown id (or one already swept) is
// NotFound.
func (s *Store) DeleteSession(ctx context.Context, id int64) error {
	res := s.db.WithContext(ctx).Where("id = ?", id).Delete(&sessionRow{})
	return notFoundIfNone(res, fmt.Sprintf("session %d", id))
}

// DeleteExpiredSessions deletes the sessions expired by now and returns how
// many there were.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("expires_at <= ?", utc(now)).Delete(&sessionRow{})
	if res.Error != nil {
		return 0, mapErr(res.Error, "expired sessions")
	}
	return res.RowsAffected, nil
}
