package store_test

import (
	"testing"

	"github.com/baton-run/baton/models/store/storetest"
)

// TestStore runs the conformance suite (storetest.Exercise) on every
// configured database: this is the one place a dialect is tested from, so
// a new driver gets every case by adding itself to storetest.Databases.
func TestStore(t *testing.T) {
	t.Parallel()
	for _, db := range storetest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			t.Parallel()
			storetest.Exercise(t, db.Open)
		})
	}
}
