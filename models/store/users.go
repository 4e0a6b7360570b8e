package store

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"github.com/baton-run/baton/models"
)

// CreateUser stores u and sets its ID and, when zero, its CreatedAt. It
// returns Conflict when the name is taken and Invalid for an empty name or
// an unknown role.
func (s *Store) CreateUser(ctx context.Context, u *models.User) error {
	if strings.TrimSpace(u.Name) == "" {
		return models.Errorf(models.Invalid, "a user needs a name")
	}
	roles, err := checkRoles(u.Roles)
	if err != nil {
		return err
	}
	row := userRow{
		Name:         u.Name,
		PasswordHash: u.PasswordHash,
		Roles:        NewJSON(roles),
		Disabled:     u.Disabled,
		CreatedAt:    orNow(u.CreatedAt),
	}
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return mapErr(err, fmt.Sprintf("user %q", u.Name))
	}
	u.ID, u.CreatedAt, u.Roles = row.ID, row.CreatedAt, roles
	return nil
}

// checkRoles rejects unknown roles and returns a non-nil slice, so the
// column always holds a JSON array.
func checkRoles(roles []models.Role) ([]models.Role, error) {
	out := make([]models.Role, 0, len(roles))
	for _, r := range roles {
		if _, err := models.ParseRole(string(r)); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// UserByName returns the user with that name.
func (s *Store) UserByName(ctx context.Context, name string) (*models.User, error) {
	var row userRow
	if err := s.read.WithContext(ctx).Where("name = ?", name).Take(&row).Error; err != nil {
		return nil, mapErr(err, fmt.Sprintf("user %q", name))
	}
	return row.model(), nil
}

// UserByID returns the user with that id.
func (s *Store) UserByID(ctx context.Context, id int64) (*models.User, error) {
	var row userRow
	if err := s.read.WithContext(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return nil, mapErr(err, fmt.Sprintf("user %d", id))
	}
	return row.model(), nil
}

// ListUsers returns every user, by name.
func (s *Store) ListUsers(ctx context.Context) ([]models.User, error) {
	var rows []userRow
	if err := s.read.WithContext(ctx).Order("name").Find(&rows).Error; err != nil {
		return nil, mapErr(err, "users")
	}
	out := make([]models.User, len(rows))
	for i := range rows {
		out[i] = *rows[i].model()
	}
	return out, nil
}

// CountUsers returns how many users exist; serve uses it to decide whether
// to create the first admin.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	if err := s.read.WithContext(ctx).Model(&userRow{}).Count(&n).Error; err != nil {
		return 0, mapErr(err, "users")
	}
	return n, nil
}

// SetUserRoles replaces a user's roles.
func (s *Store) SetUserRoles(ctx context.Context, id int64, roles []models.Role) error {
	roles, err := checkRoles(roles)
	if err != nil {
		return err
	}
	res := s.db.WithContext(ctx).Model(&userRow{}).Where("id = ?", id).Update("roles", NewJSON(roles))
	return notFoundIfNone(res, fmt.Sprintf("user %d", id))
}

// SetUserPassword replaces a user's password hash and ends every browser
// session of that user in the same transaction: a password is changed
// because it may be known to someone else, and a session signed in with
// the old one must not outlive it. API tokens are separate credentials
// and stay until revoked.
func (s *Store) SetUserPassword(ctx context.Context, id int64, hash string) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&userRow{}).Where("id = ?", id).Update("password_hash", hash)
		if err := notFoundIfNone(res, fmt.Sprintf("user %d", id)); err != nil {
			return err
		}
		if err := tx.Where("user_id = ?", id).Delete(&sessionRow{}).Error; err != nil {
			return mapErr(err, fmt.Sprintf("sessions of user %d", id))
		}
		return nil
	})
}

// SetUserDisabled disables or re-enables a user. A disabled user's tokens
// and sessions are still found; the caller refuses them.
func (s *Store) SetUserDisabled(ctx context.Context, id int64, disabled bool) error {
	res := s.db.WithContext(ctx).Model(&userRow{}).Where("id = ?", id).Update("disabled", disabled)
	return notFoundIfNone(res, fmt.Sprintf("user %d", id))
}
