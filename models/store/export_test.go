package store

import (
	"database/sql"
	"sync"

	"gorm.io/gorm"

	"github.com/baton-run/baton/migrations"
)

// RowModels exposes every GORM row struct of the package (ours and the
// engine's runs.go) to the external tests, for the column-drift check.
var RowModels = append(append(append([]any{}, rowModels...), runRowModels...), alertRowModels...)

// Captured is one statement GORM sent to the database.
type Captured struct {
	SQL  string
	Vars []any
}

// CaptureSQL records every query statement the store sends through GORM
// from now on; take returns those recorded since the last call.
func CaptureSQL(s *Store) (take func() []Captured) {
	var mu sync.Mutex
	var got []Captured
	record := func(db *gorm.DB) {
		if db.Statement == nil || db.Statement.SQL.Len() == 0 {
			return
		}
		mu.Lock()
		got = append(got, Captured{SQL: db.Statement.SQL.String(), Vars: append([]any(nil), db.Statement.Vars...)})
		mu.Unlock()
	}
	for _, db := range []*gorm.DB{s.read, s.db} {
		_ = db.Callback().Query().After("gorm:query").Register("test:capture_query", record)
		_ = db.Callback().Row().After("gorm:row").Register("test:capture_row", record)
	}
	return func() []Captured {
		mu.Lock()
		defer mu.Unlock()
		out := got
		got = nil
		return out
	}
}

// SQLDB is the store's database/sql handle (the writer on SQLite).
func SQLDB(s *Store) *sql.DB { return s.sqlDB }

// IsPostgres reports the store's dialect.
func IsPostgres(s *Store) bool { return s.dialect == migrations.Postgres }
