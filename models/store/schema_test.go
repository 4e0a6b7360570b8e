package store_test

import (
	"testing"

	"gorm.io/gorm"

	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

// These tests need the package's unexported row structs (export_test.go,
// versions_export_test.go), so they cannot live in the storetest suite.

// TestColumnDrift checks that every field of every row struct has its
// column in the migrated schema, so the Go side and the SQL cannot drift.
func TestColumnDrift(t *testing.T) {
	t.Parallel()
	checkColumns(t, store.RowModels)
}

// TestReviewColumnDrift does the same for the row structs of templates,
// versions, approvals and triggers.
func TestReviewColumnDrift(t *testing.T) {
	t.Parallel()
	checkColumns(t, store.ReviewRowModels)
}

func checkColumns(t *testing.T, rowModels []any) {
	t.Helper()
	for _, db := range storetest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			t.Parallel()
			g := db.Open(t).Gorm()
			for _, m := range rowModels {
				stmt := &gorm.Statement{DB: g}
				if err := stmt.Parse(m); err != nil {
					t.Fatalf("parse %T: %v", m, err)
				}
				if !g.Migrator().HasTable(m) {
					t.Errorf("%T: table %s is missing", m, stmt.Schema.Table)
					continue
				}
				for _, f := range stmt.Schema.Fields {
					if f.DBName != "" && !g.Migrator().HasColumn(m, f.DBName) {
						t.Errorf("%T.%s: column %s.%s is missing", m, f.Name, stmt.Schema.Table, f.DBName)
					}
				}
			}
		})
	}
}
