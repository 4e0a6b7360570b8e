package storetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// Conformance cases of draft locks.

func lockCode(err error) models.Code {
	var me *models.Error
	if errors.As(err, &me) {
		return me.Code
	}
	return ""
}

func exerciseDraftLocks(t *testing.T, st *store.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	const ttl = 30 * time.Second
	const key = "draft:orders"

	if l, err := st.Lock(ctx, key, t0); err != nil || l != nil {
		t.Fatalf("free lock: %+v, %v", l, err)
	}
	l, err := st.AcquireLock(ctx, key, "ann", "tab-a", ttl, t0)
	if err != nil || l.Holder != "ann" || !l.ExpiresAt.Equal(t0.Add(ttl)) {
		t.Fatalf("acquire: %+v, %v", l, err)
	}
	// Someone else is told who holds it.
	cur, err := st.AcquireLock(ctx, key, "bob", "tab-b", ttl, t0.Add(time.Second))
	if lockCode(err) != models.Conflict || !strings.Contains(err.Error(), "ann") || cur == nil || cur.Holder != "ann" {
		t.Fatalf("second holder: %+v, %v", cur, err)
	}
	// The heartbeat keeps it past the first expiry.
	if _, err := st.RenewLock(ctx, key, "tab-a", ttl, t0.Add(20*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AcquireLock(ctx, key, "bob", "tab-b", ttl, t0.Add(40*time.Second)); lockCode(err) != models.Conflict {
		t.Fatalf("renewed lock taken: %v", err)
	}
	// Another holder cannot renew or release it.
	if _, err := st.RenewLock(ctx, key, "tab-b", ttl, t0.Add(41*time.Second)); lockCode(err) != models.Conflict {
		t.Fatalf("foreign renew: %v", err)
	}
	if err := st.ReleaseLock(ctx, key, "tab-b"); err != nil {
		t.Fatal(err)
	}
	if l, _ := st.Lock(ctx, key, t0.Add(41*time.Second)); l == nil || l.Holder != "ann" {
		t.Fatalf("foreign release freed the lock: %+v", l)
	}
	// A closed tab stops renewing: 30 s after the last heartbeat the
	// lock is free and someone else takes it.
	expiry := t0.Add(50 * time.Second)
	if l, _ := st.Lock(ctx, key, expiry); l != nil {
		t.Fatalf("lock still held at its expiry: %+v", l)
	}
	l, err = st.AcquireLock(ctx, key, "bob", "tab-b", ttl, expiry)
	if err != nil || l.Holder != "bob" {
		t.Fatalf("take expired lock: %+v, %v", l, err)
	}
	// The old tab learns it has lost the lock.
	if _, err := st.RenewLock(ctx, key, "tab-a", ttl, expiry.Add(time.Second)); lockCode(err) != models.Conflict {
		t.Fatalf("stale renew: %v", err)
	}
	// Acquiring again with the same token renews.
	if l, err = st.AcquireLock(ctx, key, "bob", "tab-b", ttl, expiry.Add(10*time.Second)); err != nil || !l.ExpiresAt.Equal(expiry.Add(40*time.Second)) {
		t.Fatalf("re-acquire: %+v, %v", l, err)
	}
	if err := st.ReleaseLock(ctx, key, "tab-b"); err != nil {
		t.Fatal(err)
	}
	if l, _ := st.Lock(ctx, key, expiry.Add(11*time.Second)); l != nil {
		t.Fatalf("released lock still held: %+v", l)
	}
	// Bad input is refused clearly.
	for _, c := range []struct {
		key, holder, token string
		ttl                time.Duration
	}{
		{"", "a", "t", ttl}, {key, "", "t", ttl}, {key, "a", "", ttl}, {key, "a", "t", 0},
	} {
		if _, err := st.AcquireLock(ctx, c.key, c.holder, c.token, c.ttl, t0); lockCode(err) != models.Invalid {
			t.Errorf("AcquireLock(%q, %q, %q, %s) = %v, want invalid", c.key, c.holder, c.token, c.ttl, err)
		}
	}
}

// Many tabs racing for one free lock: exactly one wins.
func exerciseDraftLockRace(t *testing.T, st *store.Store) {
	ctx := context.Background()
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := st.AcquireLock(ctx, "draft:race", "user", string(rune('a'+i)), time.Minute, at)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case lockCode(err) == models.Conflict:
				conflicts++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || conflicts != 7 {
		t.Fatalf("wins %d, conflicts %d; want 1 and 7", wins, conflicts)
	}
}

// While a designer tab holds the draft's lock, only that tab discards the
// draft; anyone else is told who holds it, and may force only as the
// draft's author, the lock's holder or an admin.
func exerciseDiscardDraftLock(t *testing.T, st *store.Store) {
	ctx := context.Background()
	at := time.Now().UTC()
	lockKey := models.DraftLockKey("orders")
	// openDraft opens draft n by dana after the submitted v1.
	openDraft := func(n int) {
		t.Helper()
		v, err := st.SaveDraft(ctx, "orders", Def("orders", "Experiment", "a", "b"), "dana")
		must(t, err, "open a draft")
		if v.Number != n {
			t.Fatalf("opened v%d, want v%d", v.Number, n)
		}
	}
	MustCreateTemplate(t, st, "orders", "dana", "a")
	_, err := st.SubmitVersion(ctx, "orders", 1, "dana")
	must(t, err, "submit v1")
	openDraft(2)

	// erin's tab edits the draft.
	_, err = st.AcquireLock(ctx, lockKey, "erin", "erin-tab", time.Minute, at)
	must(t, err, "erin locks")

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
	must(t, st.DiscardDraft(ctx, "orders", 2, "erin", models.LockGuard{Token: "erin-tab", At: at}), "holder's tab discards")

	// The draft's author may force past the lock; the audit log says so.
	openDraft(3)
	must(t, st.DiscardDraft(ctx, "orders", 3, "dana", models.LockGuard{Force: true, At: at}), "author forces")
	audit, err := st.ListAudit(ctx, 1, 0)
	must(t, err, "audit")
	if len(audit) != 1 || audit[0].Target != "template:orders/v3" || audit[0].Detail["forcedPastLockOf"] != "erin" {
		t.Errorf("audit of the forced discard = %+v, want v3 with forcedPastLockOf erin", audit)
	}

	// An admin may force too.
	openDraft(4)
	must(t, st.DiscardDraft(ctx, "orders", 4, "alice", models.LockGuard{Force: true, Admin: true, At: at}), "admin forces")

	// The same person in another tab is refused like anyone else.
	openDraft(5)
	err = st.DiscardDraft(ctx, "orders", 5, "erin", models.LockGuard{Token: "erin-other-tab", At: at})
	wantErr(t, err, models.Conflict, "holder's other tab", "you (erin) are editing")

	// Once the lock has expired nobody is in the way.
	must(t, st.DiscardDraft(ctx, "orders", 5, "frank", models.LockGuard{At: at.Add(2 * time.Minute)}), "after expiry")
	// A released lock is no obstacle either.
	openDraft(6)
	_, err = st.AcquireLock(ctx, lockKey, "erin", "erin-tab", time.Minute, time.Now())
	must(t, err, "erin locks again")
	must(t, st.ReleaseLock(ctx, lockKey, "erin-tab"), "erin closes her tab")
	must(t, st.DiscardDraft(ctx, "orders", 6, "frank", models.LockGuard{}), "after release")
}
