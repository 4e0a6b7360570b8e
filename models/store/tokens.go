package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"gorm.io/gorm"

	"github.com/baton-run/baton/models"
)

// CreateToken stores t (only its hash) and sets its ID and, when zero, its
// CreatedAt. It returns NotFound when t.UserID names no user and Conflict
// when the hash is already stored.
func (s *Store) CreateToken(ctx context.Context, t *models.APIToken) error {
	if t.Hash == "" {
		return models.Errorf(models.Invalid, "an API token needs a hash")
	}
	if r := t.RateLimit; r != nil && (*r < 0 || math.IsNaN(*r) || math.IsInf(*r, 0)) {
		return models.Problems("invalid token", []models.Problem{{Path: "rateLimit", Message: "must be a number of requests per second, 0 or more (0: unlimited)"}})
	}
	row := apiTokenRow{
		UserID:     t.UserID,
		Name:       t.Name,
		Hash:       t.Hash,
		Prefix:     t.Prefix,
		CreatedAt:  orNow(t.CreatedAt),
		LastUsedAt: utcPtr(t.LastUsedAt),
		RevokedAt:  utcPtr(t.RevokedAt),
		RateLimit:  t.RateLimit,
	}
	err := s.db.WithContext(ctx).Create(&row).Error
	if errors.Is(err, gorm.ErrForeignKeyViolated) {
		return models.Errorf(models.NotFound, "user %d not found", t.UserID)
	}
	if err != nil {
		return mapErr(err, "an API token with this hash")
	}
	t.ID, t.CreatedAt = row.ID, row.CreatedAt
	return nil
}

// userColumns selects a users row under the u_ prefix, for the joins that
// return a credential together with its user.
const userColumns = "users.id AS u_id, users.name AS u_name, users.password_hash AS u_password_hash, " +
	"users.roles AS u_roles, users.disabled AS u_disabled, users.created_at AS u_created_at"

type tokenWithUser struct {
	// Named, not anonymous: GORM ignores unexported embedded structs.
	Token apiTokenRow `gorm:"embedded"`
	User  userRow     `gorm:"embedded;embeddedPrefix:u_"`
}

// TokenByHash returns the unrevoked token with that hash and its user, in
// one query since it runs on every API request. A disabled user's token is
// returned: refusing it is the caller's decision.
func (s *Store) TokenByHash(ctx context.Context, hash string) (*models.APIToken, *models.User, error) {
	var row tokenWithUser
	err := s.read.WithContext(ctx).Table("api_tokens").
		Select("api_tokens.*, "+userColumns).
		Joins("JOIN users ON users.id = api_tokens.user_id").
		Where("api_tokens.hash = ? AND api_tokens.revoked_at IS NULL", hash).
		Take(&row).Error
	if err != nil {
		return nil, nil, mapErr(err, "API token")
	}
	return row.Token.model(), row.User.model(), nil
}

// TokenByID returns a token, revoked or not.
func (s *Store) TokenByID(ctx context.Context, id int64) (*models.APIToken, error) {
	var row apiTokenRow
	if err := s.read.WithContext(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return nil, mapErr(err, fmt.Sprintf("API token %d", id))
	}
	return row.model(), nil
}

// ListTokens returns a user's tokens, newest first, revoked ones included.
func (s *Store) ListTokens(ctx context.Context, userID int64) ([]models.APIToken, error) {
	var rows []apiTokenRow
	err := s.read.WithContext(ctx).Where("user_id = ?", userID).
		Order("created_at DESC, id DESC").Find(&rows).Error
	if err != nil {
		return nil, mapErr(err, "API tokens")
	}
	out := make([]models.APIToken, len(rows))
	for i := range rows {
		out[i] = *rows[i].model()
	}
	return out, nil
}

// TouchToken records when a token was last used.
func (s *Store) TouchToken(ctx context.Context, id int64, at time.Time) error {
	res := s.db.WithContext(ctx).Model(&apiTokenRow{}).Where("id = ?", id).Update("last_used_at", orNow(at))
	return notFoundIfNone(res, fmt.Sprintf("API token %d", id))
}

// RevokeToken revokes a token from at on. Revoking a revoked token keeps
// the first revocation time and succeeds; an unknown id is NotFound.
func (s *Store) RevokeToken(ctx context.Context, id int64, at time.Time) error {
	res := s.db.WithContext(ctx).Model(&apiTokenRow{}).
		Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", orNow(at))
	if res.Error != nil {
		return mapErr(res.Error, fmt.Sprintf("API token %d", id))
	}
	if res.RowsAffected > 0 {
		return nil
	}
	_, err := s.TokenByID(ctx, id)
	return err
}
