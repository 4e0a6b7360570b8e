package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// Conformance cases of the audit log and concurrent writers.

func exerciseAudit(t *testing.T, st *store.Store) {
	ctx := context.Background()
	wantErr(t, st.Audit(ctx, &models.AuditEntry{Action: "x"}), models.Invalid, "audit without actor")
	wantErr(t, st.Audit(ctx, &models.AuditEntry{Actor: "x"}), models.Invalid, "audit without action")

	first := &models.AuditEntry{Actor: "system", Action: models.AuditUserCreated, Target: "user:ann"}
	must(t, st.Audit(ctx, first), "audit")
	if first.ID == 0 || first.At.IsZero() || time.Since(first.At) > time.Minute {
		t.Fatalf("Audit set ID %d, At %v; want an id and now", first.ID, first.At)
	}
	at := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	const total = 25
	for i := 1; i < total; i++ {
		must(t, st.Audit(ctx, &models.AuditEntry{At: at.Add(time.Duration(i) * time.Second), Actor: "ann", Action: models.AuditLogin, Target: fmt.Sprint(i)}), "audit")
	}

	var all []models.AuditEntry
	before := int64(0)
	for page := 0; ; page++ {
		got, err := st.ListAudit(ctx, 10, before)
		must(t, err, "list audit")
		if len(got) == 0 {
			break
		}
		if page > total {
			t.Fatal("ListAudit pages never end")
		}
		all = append(all, got...)
		before = got[len(got)-1].ID
	}
	if len(all) != total {
		t.Fatalf("paging saw %d entries, want %d", len(all), total)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID >= all[i-1].ID {
			t.Fatalf("entries not newest first: id %d after %d", all[i].ID, all[i-1].ID)
		}
	}
	if last := all[total-1]; last.ID != first.ID || last.Target != "user:ann" || last.Action != models.AuditUserCreated {
		t.Errorf("oldest entry = %+v, want %+v", last, first)
	}
	if newest := all[0]; newest.Target != "24" || !newest.At.Equal(at.Add(24*time.Second)) {
		t.Errorf("newest entry = %+v", newest)
	}

	got, err := st.ListAudit(ctx, 0, 0)
	must(t, err, "list with default limit")
	if len(got) != total {
		t.Errorf("limit 0 returned %d entries, want all %d (default %d)", len(got), total, store.DefaultAuditLimit)
	}
	got, err = st.ListAudit(ctx, 3, all[0].ID)
	must(t, err, "list before newest")
	if len(got) != 3 || got[0].ID != all[1].ID {
		t.Errorf("ListAudit(3, newest) = %d entries starting at %v, want 3 from %d", len(got), got, all[1].ID)
	}
	_, err = st.ListAudit(ctx, 10, -1)
	wantErr(t, err, models.Invalid, "negative before")
}

// exerciseConcurrentWrites hammers the store from many goroutines, as the
// engine and web requests do: on SQLite no write may fail with "database is
// locked", and none may be lost.
func exerciseConcurrentWrites(t *testing.T, st *store.Store) {
	ctx := context.Background()
	const workers, each = 16, 20
	u := mustUser(t, st, "busy")
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*3)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if err := st.Audit(ctx, &models.AuditEntry{Actor: "busy", Action: "hammer", Target: fmt.Sprintf("%d/%d", w, i)}); err != nil {
					errs <- fmt.Errorf("audit: %w", err)
				}
				if err := st.RecordLoginFailure(ctx, "busy", fmt.Sprint(w), time.Time{}); err != nil {
					errs <- fmt.Errorf("login failure: %w", err)
				}
				if err := st.CreateToken(ctx, &models.APIToken{UserID: u.ID, Hash: fmt.Sprintf("c-%d-%d", w, i)}); err != nil {
					errs <- fmt.Errorf("token: %w", err)
				}
				// Reads in between, so readers and the writer overlap.
				if _, _, err := st.TokenByHash(ctx, fmt.Sprintf("c-%d-%d", w, i)); err != nil {
					errs <- fmt.Errorf("read own token: %w", err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := st.ListAudit(ctx, store.MaxAuditLimit, 0)
	must(t, err, "list audit")
	if len(got) != workers*each {
		t.Errorf("%d audit entries stored, want %d", len(got), workers*each)
	}
	toks, err := st.ListTokens(ctx, u.ID)
	must(t, err, "list tokens")
	if len(toks) != workers*each {
		t.Errorf("%d tokens stored, want %d", len(toks), workers*each)
	}
	for w := range workers {
		n, err := st.CountLoginFailures(ctx, "busy", fmt.Sprint(w), time.Now().Add(-time.Hour))
		must(t, err, "count")
		if n != each {
			t.Errorf("worker %d: %d failures stored, want %d", w, n, each)
		}
	}
}

// exerciseConcurrentConflicts races goroutines to create one name: exactly
// one wins, and every other gets Conflict (not a raw driver error).
func exerciseConcurrentConflicts(t *testing.T, st *store.Store) {
	ctx := context.Background()
	const racers = 12
	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() { errs[i] = st.CreateUser(ctx, &models.User{Name: "highlander"}) })
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !models.IsCode(err, models.Conflict):
			t.Errorf("a losing CreateUser returned %v (code %s), want Conflict", err, models.ErrorCode(err))
		}
	}
	if wins != 1 {
		t.Errorf("%d goroutines created the same user, want exactly 1", wins)
	}
}
