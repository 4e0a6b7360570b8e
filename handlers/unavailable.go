package handlers

import (
	"context"
	"strconv"
	"time"

	"github.com/baton-run/baton/models"
)

// unavailableStore stands in when Deps.Store is nil: every call fails with
// Unavailable, so the app still starts and says clearly what is missing.
type unavailableStore struct{}

var errNoStore = models.Errorf(models.Unavailable, "no database is configured")

func (unavailableStore) Ping(context.Context) error                          { return errNoStore }
func (unavailableStore) CreateUser(context.Context, *models.User) error      { return errNoStore }
func (unavailableStore) ListUsers(context.Context) ([]models.User, error)    { return nil, errNoStore }
func (unavailableStore) Audit(context.Context, *models.AuditEntry) error     { return errNoStore }
func (unavailableStore) DeleteSession(context.Context, int64) error          { return errNoStore }
func (unavailableStore) CreateToken(context.Context, *models.APIToken) error { return errNoStore }
func (unavailableStore) CreateSession(context.Context, *models.Session) error {
	return errNoStore
}
func (unavailableStore) UserByName(context.Context, string) (*models.User, error) {
	return nil, errNoStore
}
func (unavailableStore) SetUserRoles(context.Context, int64, []models.Role) error {
	return errNoStore
}
func (unavailableStore) TokenByHash(context.Context, string) (*models.APIToken, *models.User, error) {
	return nil, nil, errNoStore
}
func (unavailableStore) TokenByID(context.Context, int64) (*models.APIToken, error) {
	return nil, errNoStore
}
func (unavailableStore) TouchToken(context.Context, int64, time.Time) error  { return errNoStore }
func (unavailableStore) RevokeToken(context.Context, int64, time.Time) error { return errNoStore }
func (unavailableStore) ListTokens(context.Context, int64) ([]models.APIToken, error) {
	return nil, errNoStore
}
func (unavailableStore) SessionByHash(context.Context, string, time.Time) (*models.Session, *models.User, error) {
	return nil, nil, errNoStore
}
func (unavailableStore) TouchSession(context.Context, int64, time.Time) error { return errNoStore }
func (unavailableStore) RecordLoginFailure(context.Context, string, string, time.Time) error {
	return errNoStore
}
func (unavailableStore) CountLoginFailures(context.Context, string, string, time.Time) (int64, error) {
	return 0, errNoStore
}
func (unavailableStore) ClearLoginFailures(context.Context, string, string) error { return errNoStore }
func (unavailableStore) ReserveLoginAttempt(context.Context, string, string, time.Time, time.Time, int) (bool, error) {
	return false, errNoStore
}

func itoa(i int) string { return strconv.Itoa(i) }
