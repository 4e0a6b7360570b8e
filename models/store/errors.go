package store

import (
	"context"
	"errors"
	"fmt"

	gosqlite "github.com/glebarez/go-sqlite"
	"gorm.io/gorm"

	"github.com/baton-run/baton/models"
)

// sqliteBusy is SQLITE_BUSY, the primary result code behind "database is
// locked"; extended codes keep it in their low byte.
const sqliteBusy = 5

// mapErr turns a database error into a models.Error where one applies.
// subject names the row for the message, e.g. `user "ann"`.
func mapErr(err error, subject string) error {
	var me *models.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &me):
		return err
	case errors.Is(err, gorm.ErrRecordNotFound):
		return models.Errorf(models.NotFound, "%s not found", subject)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return models.Errorf(models.Conflict, "%s already exists", subject)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("store: %s: %w", subject, err)
	case isBusy(err):
		// Only reachable when another process holds the file longer than
		// busy_timeout: a signal to retry later, not a bug.
		return &models.Error{Code: models.Unavailable, Message: "the database is busy; try again"}
	}
	return fmt.Errorf("store: %s: %w", subject, err)
}

// isBusy reports whether err is SQLite's SQLITE_BUSY ("database is locked").
func isBusy(err error) bool {
	var se *gosqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqliteBusy
}

// notFoundIfNone reports NotFound when an UPDATE or DELETE matched no row.
func notFoundIfNone(res *gorm.DB, subject string) error {
	if res.Error != nil {
		return mapErr(res.Error, subject)
	}
	if res.RowsAffected == 0 {
		return models.Errorf(models.NotFound, "%s not found", subject)
	}
	return nil
}
