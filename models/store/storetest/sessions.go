package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// Conformance cases of browser sessions.

func exerciseSessions(t *testing.T, st *store.Store) {
	ctx := context.Background()
	ann := mustUser(t, st, "ann")
	t0 := time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)
	exp := t0.Add(time.Hour)

	wantErr(t, st.CreateSession(ctx, &models.Session{UserID: ann.ID, ExpiresAt: exp}), models.Invalid, "session without hash")
	wantErr(t, st.CreateSession(ctx, &models.Session{UserID: ann.ID, Hash: "h"}), models.Invalid, "session without expiry")
	wantErr(t, st.CreateSession(ctx, &models.Session{UserID: 424242, Hash: "h", ExpiresAt: exp}), models.NotFound, "session of unknown user")

	sess := &models.Session{UserID: ann.ID, Hash: "sess-1", CSRFToken: "csrf", CreatedAt: t0, ExpiresAt: exp, IP: "192.0.2.1", UserAgent: "Firefox"}
	must(t, st.CreateSession(ctx, sess), "create session")
	if sess.ID == 0 || !sess.LastSeen.Equal(t0) {
		t.Fatalf("CreateSession set ID %d, LastSeen %v; want an id and LastSeen = CreatedAt", sess.ID, sess.LastSeen)
	}
	wantErr(t, st.CreateSession(ctx, &models.Session{UserID: ann.ID, Hash: "sess-1", ExpiresAt: exp}), models.Conflict, "duplicate session hash")
	short := &models.Session{UserID: ann.ID, Hash: "sess-2", ExpiresAt: t0.Add(time.Minute)}
	must(t, st.CreateSession(ctx, short), "create short session")

	got, user, err := st.SessionByHash(ctx, "sess-1", t0.Add(59*time.Minute))
	must(t, err, "session by hash")
	if !reflect.DeepEqual(got, sess) {
		t.Errorf("SessionByHash = %+v, want %+v", got, sess)
	}
	if user == nil || user.ID != ann.ID || user.Name != "ann" {
		t.Errorf("SessionByHash user = %+v", user)
	}
	_, _, err = st.SessionByHash(ctx, "sess-1", exp)
	wantErr(t, err, models.NotFound, "session at its expiry")
	_, _, err = st.SessionByHash(ctx, "sess-1", exp.Add(time.Second))
	wantErr(t, err, models.NotFound, "expired session")
	_, _, err = st.SessionByHash(ctx, "nope", t0)
	wantErr(t, err, models.NotFound, "unknown session")

	seen := t0.Add(10 * time.Minute)
	must(t, st.TouchSession(ctx, sess.ID, seen), "touch")
	wantErr(t, st.TouchSession(ctx, 424242, seen), models.NotFound, "touch unknown session")
	got, _, err = st.SessionByHash(ctx, "sess-1", t0)
	must(t, err, "session after touch")
	if !got.LastSeen.Equal(seen) {
		t.Errorf("LastSeen = %v, want %v", got.LastSeen, seen)
	}

	n, err := st.DeleteExpiredSessions(ctx, t0.Add(30*time.Minute))
	must(t, err, "delete expired")
	if n != 1 {
		t.Errorf("DeleteExpiredSessions removed %d, want 1 (the short session)", n)
	}
	_, _, err = st.SessionByHash(ctx, "sess-2", t0)
	wantErr(t, err, models.NotFound, "swept session")

	must(t, st.DeleteSession(ctx, sess.ID), "delete session")
	wantErr(t, st.DeleteSession(ctx, sess.ID), models.NotFound, "delete deleted session")
	_, _, err = st.SessionByHash(ctx, "sess-1", t0)
	wantErr(t, err, models.NotFound, "deleted session")

	// A new password ends every session of that user, and only of that user.
	bob := mustUser(t, st, "bob-sessions")
	for i, u := range []int64{ann.ID, ann.ID, bob.ID} {
		must(t, st.CreateSession(ctx, &models.Session{UserID: u, Hash: fmt.Sprintf("pw-%d", i), ExpiresAt: exp}), "create session")
	}
	must(t, st.SetUserPassword(ctx, ann.ID, "another-hash"), "set password")
	for _, h := range []string{"pw-0", "pw-1"} {
		_, _, err = st.SessionByHash(ctx, h, t0)
		wantErr(t, err, models.NotFound, "session signed in with the old password")
	}
	_, _, err = st.SessionByHash(ctx, "pw-2", t0)
	must(t, err, "another user's session survives a password change")
}
