package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// Exercise is the store's conformance suite: every dialect must pass it.
// open returns a fresh, empty, migrated store for each subtest.
func Exercise(t *testing.T, open func(t testing.TB) *store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, st *store.Store)
	}{
		{"Basics", exerciseBasics},
		{"Users", exerciseUsers},
		{"TimePrecision", exerciseTimePrecision},
		{"JSONRoundTrip", exerciseJSON},
		{"Tokens", exerciseTokens},
		{"Sessions", exerciseSessions},
		{"LoginFailures", exerciseLoginFailures},
		{"Audit", exerciseAudit},
		{"ConcurrentWrites", exerciseConcurrentWrites},
		{"ConcurrentConflicts", exerciseConcurrentConflicts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

// wantCode fails t unless err carries code.
func wantCode(t testing.TB, err error, code models.Code, what string) {
	t.Helper()
	if got := models.ErrorCode(err); err == nil || got != code {
		t.Fatalf("%s: got error %v (code %q), want code %q", what, err, got, code)
	}
}

func must(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func mustUser(t testing.TB, st *store.Store, name string, roles ...models.Role) *models.User {
	t.Helper()
	u := &models.User{Name: name, PasswordHash: "hash-of-" + name, Roles: roles}
	must(t, st.CreateUser(context.Background(), u), "create user "+name)
	return u
}

func exerciseBasics(t *testing.T, st *store.Store) {
	ctx := context.Background()
	must(t, st.Ping(ctx), "ping")
	if d := st.Dialect(); d != "sqlite" && d != "postgres" {
		t.Errorf("Dialect() = %q, want sqlite or postgres", d)
	}
	if st.SQLDB() == nil || st.Gorm() == nil || st.ReadGorm() == nil {
		t.Fatal("SQLDB, Gorm and ReadGorm must not be nil")
	}
	// Open already migrated; a second run finds nothing to do.
	must(t, st.Migrate(ctx), "migrate again")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err := st.UserByName(cancelled, "anyone")
	if err == nil || models.IsCode(err, models.NotFound) || !errors.Is(err, context.Canceled) {
		t.Errorf("UserByName on a cancelled context: got %v, want an error wrapping context.Canceled", err)
	}
}

func exerciseUsers(t *testing.T, st *store.Store) {
	ctx := context.Background()
	n, err := st.CountUsers(ctx)
	must(t, err, "count users")
	if n != 0 {
		t.Fatalf("fresh store has %d users", n)
	}
	list, err := st.ListUsers(ctx)
	must(t, err, "list users")
	if list == nil || len(list) != 0 {
		t.Fatalf("ListUsers on an empty store = %#v, want an empty non-nil slice", list)
	}

	before := time.Now().UTC().Add(-time.Second)
	bob := mustUser(t, st, "bob", models.RoleDesigner, models.RoleOperator)
	if bob.ID == 0 || bob.CreatedAt.Before(before) || bob.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreateUser set ID %d, CreatedAt %v; want an id and a recent UTC time", bob.ID, bob.CreatedAt)
	}
	ann := mustUser(t, st, "ann")
	if ann.Roles == nil {
		t.Error("CreateUser with no roles left Roles nil; want an empty slice")
	}

	wantCode(t, st.CreateUser(ctx, &models.User{Name: "bob"}), models.Conflict, "second bob")
	wantCode(t, st.CreateUser(ctx, &models.User{Name: "  "}), models.Invalid, "blank name")
	wantCode(t, st.CreateUser(ctx, &models.User{Name: "eve", Roles: []models.Role{"root"}}), models.Invalid, "unknown role")

	got, err := st.UserByName(ctx, "bob")
	must(t, err, "user by name")
	if !reflect.DeepEqual(got, bob) {
		t.Errorf("UserByName(bob) = %+v, want %+v", got, bob)
	}
	got, err = st.UserByID(ctx, ann.ID)
	must(t, err, "user by id")
	if got.Name != "ann" || len(got.Roles) != 0 || got.Roles == nil || got.PasswordHash != "hash-of-ann" {
		t.Errorf("UserByID(ann) = %+v", got)
	}
	_, err = st.UserByName(ctx, "nobody")
	wantCode(t, err, models.NotFound, "unknown name")
	_, err = st.UserByID(ctx, 424242)
	wantCode(t, err, models.NotFound, "unknown id")

	list, err = st.ListUsers(ctx)
	must(t, err, "list users")
	if len(list) != 2 || list[0].Name != "ann" || list[1].Name != "bob" {
		t.Errorf("ListUsers = %+v, want ann then bob", list)
	}
	n, err = st.CountUsers(ctx)
	must(t, err, "count users")
	if n != 2 {
		t.Errorf("CountUsers = %d, want 2", n)
	}

	must(t, st.SetUserRoles(ctx, bob.ID, []models.Role{models.RoleApprover}), "set roles")
	wantCode(t, st.SetUserRoles(ctx, bob.ID, []models.Role{"king"}), models.Invalid, "set unknown role")
	wantCode(t, st.SetUserRoles(ctx, 424242, nil), models.NotFound, "set roles of unknown user")
	must(t, st.SetUserPassword(ctx, bob.ID, "new-hash"), "set password")
	wantCode(t, st.SetUserPassword(ctx, 424242, "x"), models.NotFound, "set password of unknown user")
	must(t, st.SetUserDisabled(ctx, bob.ID, true), "disable")
	wantCode(t, st.SetUserDisabled(ctx, 424242, true), models.NotFound, "disable unknown user")
	got, err = st.UserByID(ctx, bob.ID)
	must(t, err, "reload bob")
	if !slices.Equal(got.Roles, []models.Role{models.RoleApprover}) || got.PasswordHash != "new-hash" || !got.Disabled {
		t.Errorf("after updates bob = %+v", got)
	}
	// Setting the same value again still finds the row.
	must(t, st.SetUserDisabled(ctx, bob.ID, true), "disable again")
	must(t, st.SetUserRoles(ctx, bob.ID, nil), "clear roles")
	got, err = st.UserByID(ctx, bob.ID)
	must(t, err, "reload bob")
	if got.Roles == nil || len(got.Roles) != 0 {
		t.Errorf("after clearing, roles = %#v, want empty", got.Roles)
	}
}

func exerciseTimePrecision(t *testing.T, st *store.Store) {
	ctx := context.Background()
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	// Nanoseconds that PostgreSQL cannot keep, in a zone that is not UTC.
	created := time.Date(2026, 3, 29, 1, 30, 15, 123456789, zone)
	u := &models.User{Name: "timely", CreatedAt: created}
	must(t, st.CreateUser(ctx, u), "create user")
	want := created.UTC().Truncate(time.Microsecond)
	if !u.CreatedAt.Equal(want) || u.CreatedAt.Location() != time.UTC {
		t.Errorf("CreateUser set CreatedAt %v, want %v in UTC", u.CreatedAt, want)
	}
	got, err := st.UserByID(ctx, u.ID)
	must(t, err, "reload")
	if got.CreatedAt != want {
		t.Errorf("stored %v, read back %v (location %v), want exactly %v", created, got.CreatedAt, got.CreatedAt.Location(), want)
	}

	// Pointer times, and times on either side of a microsecond boundary.
	tok := &models.APIToken{UserID: u.ID, Hash: "h-time", CreatedAt: created}
	must(t, st.CreateToken(ctx, tok), "create token")
	used := time.Date(2027, 1, 1, 0, 0, 0, 999, time.UTC) // below a microsecond
	must(t, st.TouchToken(ctx, tok.ID, used), "touch")
	gt, err := st.TokenByID(ctx, tok.ID)
	must(t, err, "token by id")
	if gt.LastUsedAt == nil || *gt.LastUsedAt != used.Truncate(time.Microsecond) || gt.CreatedAt != want {
		t.Errorf("token times = created %v, last used %v; want %v and %v", gt.CreatedAt, gt.LastUsedAt, want, used.Truncate(time.Microsecond))
	}

	// Ordering and range comparisons hold at microsecond resolution, across
	// values whose text forms have fractions of different lengths.
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, d := range []time.Duration{0, time.Microsecond, 10 * time.Microsecond, 500 * time.Millisecond, time.Second} {
		must(t, st.RecordLoginFailure(ctx, "timely", "ip", base.Add(d)), "record failure")
	}
	for _, c := range []struct {
		since time.Time
		want  int64
	}{
		{base, 5},
		{base.Add(time.Microsecond), 4},
		{base.Add(2 * time.Microsecond), 3},
		{base.Add(10 * time.Microsecond), 3},
		{base.Add(11 * time.Microsecond), 2},
		{base.Add(500 * time.Millisecond).In(zone), 2},
		{base.Add(time.Second + time.Microsecond), 0},
	} {
		n, err := st.CountLoginFailures(ctx, "timely", "ip", c.since)
		must(t, err, "count")
		if n != c.want {
			t.Errorf("failures since base+%v = %d, want %d", c.since.Sub(base), n, c.want)
		}
	}
}

func exerciseJSON(t *testing.T, st *store.Store) {
	ctx := context.Background()
	detail := map[string]any{
		"text":    "héllo \"quoted\" \\ <tag> \u2603 \n newline",
		"number":  12.5,
		"integer": float64(1 << 40),
		"bool":    true,
		"null":    nil,
		"list":    []any{"a", 1.0, false, nil, map[string]any{"deep": []any{}}},
		"object":  map[string]any{"nested": map[string]any{"k": "v"}, "empty": map[string]any{}},
	}
	e := &models.AuditEntry{Actor: "ann", Action: models.AuditRolesChanged, Target: "user:bob", IP: "10.0.0.1", Detail: detail}
	must(t, st.Audit(ctx, e), "audit with detail")
	plain := &models.AuditEntry{Actor: "system", Action: models.AuditLogin}
	must(t, st.Audit(ctx, plain), "audit without detail")

	got, err := st.ListAudit(ctx, 10, 0)
	must(t, err, "list audit")
	if len(got) != 2 {
		t.Fatalf("ListAudit returned %d entries, want 2", len(got))
	}
	if !reflect.DeepEqual(got[1].Detail, detail) {
		t.Errorf("detail round trip:\n got  %#v\n want %#v", got[1].Detail, detail)
	}
	if got[0].Detail != nil {
		t.Errorf("an entry stored without detail came back with %#v", got[0].Detail)
	}

	// Roles are a JSON array column too.
	roles := []models.Role{models.RoleViewer, models.RoleAdmin, models.RoleOperator}
	u := &models.User{Name: "json", Roles: roles}
	must(t, st.CreateUser(ctx, u), "create user")
	gu, err := st.UserByID(ctx, u.ID)
	must(t, err, "reload")
	if !slices.Equal(gu.Roles, roles) {
		t.Errorf("roles round trip: got %v, want %v (order kept)", gu.Roles, roles)
	}
}

func exerciseTokens(t *testing.T, st *store.Store) {
	ctx := context.Background()
	ann := mustUser(t, st, "ann", models.RoleAdmin)
	bob := mustUser(t, st, "bob")
	t0 := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)

	wantCode(t, st.CreateToken(ctx, &models.APIToken{UserID: ann.ID}), models.Invalid, "token without hash")
	wantCode(t, st.CreateToken(ctx, &models.APIToken{UserID: 424242, Hash: "orphan"}), models.NotFound, "token of unknown user")

	var toks []*models.APIToken
	for i := range 3 {
		tok := &models.APIToken{UserID: ann.ID, Name: fmt.Sprintf("t%d", i), Hash: fmt.Sprintf("hash-%d", i), Prefix: "bt_", CreatedAt: t0.Add(time.Duration(i) * time.Minute)}
		must(t, st.CreateToken(ctx, tok), "create token")
		if tok.ID == 0 {
			t.Fatal("CreateToken did not set ID")
		}
		toks = append(toks, tok)
	}
	// Same creation time: the later id still sorts first.
	same := &models.APIToken{UserID: ann.ID, Name: "same", Hash: "hash-same", CreatedAt: t0.Add(2 * time.Minute)}
	must(t, st.CreateToken(ctx, same), "create token")
	must(t, st.CreateToken(ctx, &models.APIToken{UserID: bob.ID, Name: "bobs", Hash: "hash-bob"}), "create bob's token")
	wantCode(t, st.CreateToken(ctx, &models.APIToken{UserID: bob.ID, Hash: "hash-1"}), models.Conflict, "duplicate hash")
	now := &models.APIToken{UserID: bob.ID, Hash: "hash-now"}
	must(t, st.CreateToken(ctx, now), "token with zero CreatedAt")
	if now.CreatedAt.IsZero() {
		t.Error("CreateToken left a zero CreatedAt")
	}

	tok, user, err := st.TokenByHash(ctx, "hash-1")
	must(t, err, "token by hash")
	if tok.ID != toks[1].ID || tok.Name != "t1" || tok.Prefix != "bt_" || tok.CreatedAt != toks[1].CreatedAt || tok.LastUsedAt != nil || tok.RevokedAt != nil {
		t.Errorf("TokenByHash = %+v, want %+v", tok, toks[1])
	}
	if user == nil || !reflect.DeepEqual(user, ann) {
		t.Errorf("TokenByHash user = %+v, want %+v", user, ann)
	}
	_, _, err = st.TokenByHash(ctx, "no-such-hash")
	wantCode(t, err, models.NotFound, "unknown hash")

	used := t0.Add(time.Hour)
	must(t, st.TouchToken(ctx, tok.ID, used), "touch")
	wantCode(t, st.TouchToken(ctx, 424242, used), models.NotFound, "touch unknown token")
	tok, _, err = st.TokenByHash(ctx, "hash-1")
	must(t, err, "token by hash after touch")
	if tok.LastUsedAt == nil || !tok.LastUsedAt.Equal(used) {
		t.Errorf("LastUsedAt = %v, want %v", tok.LastUsedAt, used)
	}

	revoked := t0.Add(2 * time.Hour)
	must(t, st.RevokeToken(ctx, tok.ID, revoked), "revoke")
	_, _, err = st.TokenByHash(ctx, "hash-1")
	wantCode(t, err, models.NotFound, "revoked token by hash")
	must(t, st.RevokeToken(ctx, tok.ID, revoked.Add(time.Hour)), "revoke again")
	wantCode(t, st.RevokeToken(ctx, 424242, revoked), models.NotFound, "revoke unknown token")
	byID, err := st.TokenByID(ctx, tok.ID)
	must(t, err, "revoked token by id")
	if byID.RevokedAt == nil || !byID.RevokedAt.Equal(revoked) {
		t.Errorf("RevokedAt = %v, want the first revocation %v", byID.RevokedAt, revoked)
	}
	_, err = st.TokenByID(ctx, 424242)
	wantCode(t, err, models.NotFound, "unknown token id")

	list, err := st.ListTokens(ctx, ann.ID)
	must(t, err, "list tokens")
	var names []string
	for _, l := range list {
		names = append(names, l.Name)
		if l.UserID != ann.ID {
			t.Errorf("ListTokens(ann) returned a token of user %d", l.UserID)
		}
	}
	if want := []string{"same", "t2", "t1", "t0"}; !slices.Equal(names, want) {
		t.Errorf("ListTokens(ann) names = %v, want %v (newest first, revoked included)", names, want)
	}
	list, err = st.ListTokens(ctx, 424242)
	must(t, err, "list tokens of nobody")
	if len(list) != 0 {
		t.Errorf("ListTokens(unknown user) = %v, want none", list)
	}
}

func exerciseSessions(t *testing.T, st *store.Store) {
	ctx := context.Background()
	ann := mustUser(t, st, "ann")
	t0 := time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)
	exp := t0.Add(time.Hour)

	wantCode(t, st.CreateSession(ctx, &models.Session{UserID: ann.ID, ExpiresAt: exp}), models.Invalid, "session without hash")
	wantCode(t, st.CreateSession(ctx, &models.Session{UserID: ann.ID, Hash: "h"}), models.Invalid, "session without expiry")
	wantCode(t, st.CreateSession(ctx, &models.Session{UserID: 424242, Hash: "h", ExpiresAt: exp}), models.NotFound, "session of unknown user")

	sess := &models.Session{UserID: ann.ID, Hash: "sess-1", CSRFToken: "csrf", CreatedAt: t0, ExpiresAt: exp, IP: "192.0.2.1", UserAgent: "Firefox"}
	must(t, st.CreateSession(ctx, sess), "create session")
	if sess.ID == 0 || !sess.LastSeen.Equal(t0) {
		t.Fatalf("CreateSession set ID %d, LastSeen %v; want an id and LastSeen = CreatedAt", sess.ID, sess.LastSeen)
	}
	wantCode(t, st.CreateSession(ctx, &models.Session{UserID: ann.ID, Hash: "sess-1", ExpiresAt: exp}), models.Conflict, "duplicate session hash")
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
	wantCode(t, err, models.NotFound, "session at its expiry")
	_, _, err = st.SessionByHash(ctx, "sess-1", exp.Add(time.Second))
	wantCode(t, err, models.NotFound, "expired session")
	_, _, err = st.SessionByHash(ctx, "nope", t0)
	wantCode(t, err, models.NotFound, "unknown session")

	seen := t0.Add(10 * time.Minute)
	must(t, st.TouchSession(ctx, sess.ID, seen), "touch")
	wantCode(t, st.TouchSession(ctx, 424242, seen), models.NotFound, "touch unknown session")
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
	wantCode(t, err, models.NotFound, "swept session")

	must(t, st.DeleteSession(ctx, sess.ID), "delete session")
	wantCode(t, st.DeleteSession(ctx, sess.ID), models.NotFound, "delete deleted session")
	_, _, err = st.SessionByHash(ctx, "sess-1", t0)
	wantCode(t, err, models.NotFound, "deleted session")

	// A new password ends every session of that user, and only of that user.
	bob := mustUser(t, st, "bob-sessions")
	for i, u := range []int64{ann.ID, ann.ID, bob.ID} {
		must(t, st.CreateSession(ctx, &models.Session{UserID: u, Hash: fmt.Sprintf("pw-%d", i), ExpiresAt: exp}), "create session")
	}
	must(t, st.SetUserPassword(ctx, ann.ID, "another-hash"), "set password")
	for _, h := range []string{"pw-0", "pw-1"} {
		_, _, err = st.SessionByHash(ctx, h, t0)
		wantCode(t, err, models.NotFound, "session signed in with the old password")
	}
	_, _, err = st.SessionByHash(ctx, "pw-2", t0)
	must(t, err, "another user's session survives a password change")
}

func exerciseLoginFailures(t *testing.T, st *store.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 8, 1, 10, 0, 0, 0, time.UTC)
	for _, f := range []struct {
		user, ip string
		ago      time.Duration
	}{
		{"ann", "1.1.1.1", 10 * time.Minute},
		{"ann", "1.1.1.1", 2 * time.Minute},
		{"ann", "1.1.1.1", time.Minute},
		{"ann", "2.2.2.2", time.Minute},
		{"ghost", "1.1.1.1", time.Minute}, // unknown users are throttled too
	} {
		must(t, st.RecordLoginFailure(ctx, f.user, f.ip, t0.Add(-f.ago)), "record")
	}
	count := func(user, ip string, since time.Time) int64 {
		t.Helper()
		n, err := st.CountLoginFailures(ctx, user, ip, since)
		must(t, err, "count")
		return n
	}
	if n := count("ann", "1.1.1.1", t0.Add(-5*time.Minute)); n != 2 {
		t.Errorf("ann@1.1.1.1 in the last 5m = %d, want 2", n)
	}
	if n := count("ann", "1.1.1.1", t0.Add(-time.Hour)); n != 3 {
		t.Errorf("ann@1.1.1.1 in the last hour = %d, want 3", n)
	}
	if n := count("ann", "2.2.2.2", t0.Add(-time.Hour)); n != 1 {
		t.Errorf("ann@2.2.2.2 = %d, want 1", n)
	}
	if n := count("ghost", "1.1.1.1", t0.Add(-time.Hour)); n != 1 {
		t.Errorf("ghost@1.1.1.1 = %d, want 1", n)
	}
	must(t, st.ClearLoginFailures(ctx, "ann", "1.1.1.1"), "clear")
	if n := count("ann", "1.1.1.1", t0.Add(-time.Hour)); n != 0 {
		t.Errorf("after clear ann@1.1.1.1 = %d, want 0", n)
	}
	if n := count("ann", "2.2.2.2", t0.Add(-time.Hour)); n != 1 {
		t.Errorf("clear touched another address: ann@2.2.2.2 = %d, want 1", n)
	}
	must(t, st.RecordLoginFailure(ctx, "ann", "3.3.3.3", time.Time{}), "record with zero time")
	if n := count("ann", "3.3.3.3", time.Now().Add(-time.Minute)); n != 1 {
		t.Errorf("a failure recorded at a zero time should count as now; got %d", n)
	}
	n, err := st.DeleteLoginFailuresBefore(ctx, t0)
	must(t, err, "prune")
	if n != 2 {
		t.Errorf("DeleteLoginFailuresBefore removed %d, want 2", n)
	}
}

func exerciseAudit(t *testing.T, st *store.Store) {
	ctx := context.Background()
	wantCode(t, st.Audit(ctx, &models.AuditEntry{Action: "x"}), models.Invalid, "audit without actor")
	wantCode(t, st.Audit(ctx, &models.AuditEntry{Actor: "x"}), models.Invalid, "audit without action")

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
	wantCode(t, err, models.Invalid, "negative before")
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
