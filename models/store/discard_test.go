package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/baton-run/baton/migrations"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// A draft opened by the first save after a submission can be discarded:
// the template is back to its submitted version, name included, and the
// next save opens a fresh draft with a new number, never the discarded one.
func TestDiscardDraft(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		mustCreate(t, st, "orders", "dana", "a")
		free := models.LockGuard{}

		// Version 1 is the only version: discarding it would leave nothing.
		err := st.DiscardDraft(ctx, "orders", 1, "dana", free)
		wantErr(t, err, models.Conflict, "only version", "only version")

		_, err = st.SubmitVersion(ctx, "orders", 1, "dana")
		ok(t, err, "submit")
		err = st.DiscardDraft(ctx, "orders", 1, "dana", free)
		wantErr(t, err, models.Conflict, "submitted version", "in_review, not a draft")

		_, err = st.SaveDraft(ctx, "orders", testDef("orders", "Orders experiment", "a", "b"), "erin")
		ok(t, err, "save a new draft")
		ok(t, st.DiscardDraft(ctx, "orders", 2, "erin", free), "discard")

		tpl, err := st.Template(ctx, "orders")
		ok(t, err, "template")
		if tpl.LatestVersion != 1 || tpl.Name != "Template orders" {
			t.Errorf("after discard: latest v%d named %q, want v1 named %q", tpl.LatestVersion, tpl.Name, "Template orders")
		}
		_, err = st.TemplateVersion(ctx, "orders", 2)
		wantErr(t, err, models.NotFound, "discarded version")
		audit, err := st.ListAudit(ctx, 10, 0)
		ok(t, err, "audit")
		if len(audit) == 0 || audit[0].Action != models.AuditDraftDiscarded || audit[0].Actor != "erin" || audit[0].Target != "template:orders/v2" {
			t.Errorf("newest audit entry = %+v, want erin's draft_discarded of v2", audit[0])
		}

		// The next save opens version 3: "draft_discarded v2" in the audit
		// log must keep meaning the draft that was discarded.
		v3, err := st.SaveDraft(ctx, "orders", testDef("orders", "Orders v3", "a"), "dana")
		ok(t, err, "save after discard")
		if v3.Number != 3 || v3.Author != "dana" || v3.Definition.Version != "3" {
			t.Errorf("new draft = v%d by %s (definition version %q), want v3 by dana", v3.Number, v3.Author, v3.Definition.Version)
		}
		_, err = st.TemplateVersion(ctx, "orders", 2)
		wantErr(t, err, models.NotFound, "v2 stays discarded")
		evs, err := st.VersionEvents(ctx, "orders", 3)
		ok(t, err, "events")
		if len(evs) != 1 || evs[0].Action != models.ReviewCreated || evs[0].Actor != "dana" {
			t.Errorf("events of the new v3 = %+v, want only dana's creation", evs)
		}
		list, err := st.ListVersions(ctx, "orders")
		ok(t, err, "list")
		if len(list) != 2 || list[0].Number != 3 || list[1].Number != 1 {
			t.Errorf("versions after discard and save = %+v, want v3 and v1", list)
		}

		err = st.DiscardDraft(ctx, "orders", 9, "dana", free)
		wantErr(t, err, models.NotFound, "unknown version")
		err = st.DiscardDraft(ctx, "nope", 2, "dana", free)
		wantErr(t, err, models.NotFound, "unknown template")
		err = st.DiscardDraft(ctx, "orders", 3, " ", free)
		wantErr(t, err, models.Invalid, "no actor")
	})
}

// While a designer tab holds the draft's lock, only that tab discards the
// draft; anyone else is told who holds it, and may force only as the
// draft's author, the lock's holder or an admin.
func TestDiscardDraftLock(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		at := time.Now().UTC()
		lockKey := models.DraftLockKey("orders")
		// openDraft opens draft n by dana after the submitted v1.
		openDraft := func(n int) {
			t.Helper()
			v, err := st.SaveDraft(ctx, "orders", testDef("orders", "Experiment", "a", "b"), "dana")
			ok(t, err, "open a draft")
			if v.Number != n {
				t.Fatalf("opened v%d, want v%d", v.Number, n)
			}
		}
		mustCreate(t, st, "orders", "dana", "a")
		_, err := st.SubmitVersion(ctx, "orders", 1, "dana")
		ok(t, err, "submit v1")
		openDraft(2)

		// erin's tab edits the draft.
		_, err = st.AcquireLock(ctx, lockKey, "erin", "erin-tab", time.Minute, at)
		ok(t, err, "erin locks")

		err = st.DiscardDraft(ctx, "orders", 2, "dana", models.LockGuard{At: at})
		wantErr(t, err, models.Conflict, "no token", "erin is editing draft v2", "force=true")
		err = st.DiscardDraft(ctx, "orders", 2, "dana", models.LockGuard{Token: "dana-tab", At: at})
		wantErr(t, err, models.Conflict, "another tab's token", "erin is editing")
		err = st.DiscardDraft(ctx, "orders", 2, "frank", models.LockGuard{Force: true, At: at})
		wantErr(t, err, models.Forbidden, "neither author nor holder nor admin", "only the draft's author (dana)")
		if _, err := st.TemplateVersion(ctx, "orders", 2); err != nil {
			t.Fatalf("a refused discard removed the draft: %v", err)
		}

		// The lock holder's own tab discards it.
		ok(t, st.DiscardDraft(ctx, "orders", 2, "erin", models.LockGuard{Token: "erin-tab", At: at}), "holder's tab discards")

		// The draft's author may force past the lock; the audit log says so.
		openDraft(3)
		ok(t, st.DiscardDraft(ctx, "orders", 3, "dana", models.LockGuard{Force: true, At: at}), "author forces")
		audit, err := st.ListAudit(ctx, 1, 0)
		ok(t, err, "audit")
		if len(audit) != 1 || audit[0].Target != "template:orders/v3" || audit[0].Detail["forcedPastLockOf"] != "erin" {
			t.Errorf("audit of the forced discard = %+v, want v3 with forcedPastLockOf erin", audit)
		}

		// An admin may force too.
		openDraft(4)
		ok(t, st.DiscardDraft(ctx, "orders", 4, "alice", models.LockGuard{Force: true, Admin: true, At: at}), "admin forces")

		// The same person in another tab is refused like anyone else.
		openDraft(5)
		err = st.DiscardDraft(ctx, "orders", 5, "erin", models.LockGuard{Token: "erin-other-tab", At: at})
		wantErr(t, err, models.Conflict, "holder's other tab", "you (erin) are editing")

		// Once the lock has expired nobody is in the way.
		ok(t, st.DiscardDraft(ctx, "orders", 5, "frank", models.LockGuard{At: at.Add(2 * time.Minute)}), "after expiry")
		// A released lock is no obstacle either.
		openDraft(6)
		_, err = st.AcquireLock(ctx, lockKey, "erin", "erin-tab", time.Minute, time.Now())
		ok(t, err, "erin locks again")
		ok(t, st.ReleaseLock(ctx, lockKey, "erin-tab"), "erin closes her tab")
		ok(t, st.DiscardDraft(ctx, "orders", 6, "frank", models.LockGuard{}), "after release")
	})
}

// TestVersionNumbersNeverReused races designers who each open a draft and
// discard it again: every draft gets its own number, so no number is
// discarded twice, and the next draft is numbered past all of them.
func TestVersionNumbersNeverReused(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		mustCreate(t, st, "orders", "dana", "a")
		_, err := st.SubmitVersion(ctx, "orders", 1, "dana")
		ok(t, err, "submit v1")

		const workers, rounds = 4, 5
		var wg sync.WaitGroup
		errs := make(chan error, workers*rounds)
		for w := range workers {
			wg.Go(func() {
				who := fmt.Sprintf("designer%d", w)
				for range rounds {
					v, err := st.SaveDraft(ctx, "orders", testDef("orders", "Racer", "a"), who)
					if err != nil {
						errs <- fmt.Errorf("%s saves: %w", who, err)
						return
					}
					// Another designer may have discarded this draft first.
					err = st.DiscardDraft(ctx, "orders", v.Number, who, models.LockGuard{})
					if err != nil && !models.IsCode(err, models.NotFound) {
						errs <- fmt.Errorf("%s discards v%d: %w", who, v.Number, err)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}

		audit, err := st.ListAudit(ctx, 1000, 0)
		ok(t, err, "audit")
		seen := map[string]int{}
		for _, e := range audit {
			if e.Action == models.AuditDraftDiscarded {
				seen[e.Target]++
			}
		}
		highest := 0
		for target, n := range seen {
			if n > 1 {
				t.Errorf("%s was discarded %d times: its number was given to two drafts", target, n)
			}
			var v int
			if _, err := fmt.Sscanf(target, "template:orders/v%d", &v); err == nil {
				highest = max(highest, v)
			}
		}
		if len(seen) == 0 {
			t.Fatal("no draft was discarded")
		}
		next, err := st.SaveDraft(ctx, "orders", testDef("orders", "After the race", "a"), "dana")
		ok(t, err, "save after the race")
		if next.Number <= highest {
			t.Errorf("the next draft is v%d, not past the highest discarded v%d", next.Number, highest)
		}
	})
}

// TestVersionNumbersMigration checks migration 00007 on a database that
// discarded a draft before it: the template's counter starts past the
// discarded number the audit log names, not at its highest live version.
func TestVersionNumbersMigration(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		mustCreate(t, st, "orders", "dana", "a")
		mustCreate(t, st, "ord", "dana", "a") // a key that is a prefix of another
		_, err := st.SubmitVersion(ctx, "orders", 1, "dana")
		ok(t, err, "submit v1")
		for range 2 {
			v, err := st.SaveDraft(ctx, "orders", testDef("orders", "Experiment", "a", "b"), "dana")
			ok(t, err, "open a draft")
			ok(t, st.DiscardDraft(ctx, "orders", v.Number, "dana", models.LockGuard{}), "discard")
		}
		// v2 and v3 were discarded. Roll 00007 back and apply it again, as
		// an upgrade from a release without the counter would.
		fsys, err := migrations.FS(st.Dialect())
		ok(t, err, "migrations")
		dialect := goose.DialectSQLite3
		if st.Dialect() == migrations.Postgres {
			dialect = goose.DialectPostgres
		}
		p, err := goose.NewProvider(dialect, st.SQLDB(), fsys, goose.WithDisableGlobalRegistry(true))
		ok(t, err, "goose")
		if _, err := p.Down(ctx); err != nil {
			t.Fatalf("down: %v", err)
		}
		ok(t, st.Migrate(ctx), "up again")

		v, err := st.SaveDraft(ctx, "orders", testDef("orders", "After the upgrade", "a"), "dana")
		ok(t, err, "save after the upgrade")
		if v.Number != 4 {
			t.Errorf("first draft after the upgrade is v%d, want v4 (v2 and v3 were discarded)", v.Number)
		}
		_, err = st.SubmitVersion(ctx, "ord", 1, "dana")
		ok(t, err, "submit ord v1")
		v, err = st.SaveDraft(ctx, "ord", testDef("ord", "Other", "a"), "dana")
		ok(t, err, "save ord")
		if v.Number != 2 {
			t.Errorf("ord's next draft is v%d, want v2: another template's discards do not count", v.Number)
		}
	})
}
