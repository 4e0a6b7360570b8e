package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"gorm.io/gorm"
)

// Conformance cases of the store as a whole: opening, time and JSON
// columns, and failures of the database.

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

// exerciseCancelledContext checks that a database failure surfaces as an
// error (wrapping the cause) from every method, never as a NotFound, a
// false claim or a silent success.
func exerciseCancelledContext(t *testing.T, st *store.Store) {
	MustCreateTemplate(t, st, "orders", "dana")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	def := Def("orders", "Orders")
	two := 2
	calls := map[string]func() error{
		"CreateTemplate": func() error { _, _, err := st.CreateTemplate(ctx, Def("new", "New"), "dana"); return err },
		"Template":       func() error { _, err := st.Template(ctx, "orders"); return err },
		"ListTemplates":  func() error { _, err := st.ListTemplates(ctx, models.TemplateFilter{}); return err },
		"UpdateTemplateSettings": func() error {
			_, err := st.UpdateTemplateSettings(ctx, "orders", models.TemplateSettings{RequiredApprovals: &two}, "a")
			return err
		},
		"SaveDraft":             func() error { _, err := st.SaveDraft(ctx, "orders", def, "dana"); return err },
		"RestoreVersion":        func() error { _, err := st.RestoreVersion(ctx, "orders", 1, "dana"); return err },
		"TemplateVersion":       func() error { _, err := st.TemplateVersion(ctx, "orders", 1); return err },
		"LatestApprovedVersion": func() error { _, err := st.LatestApprovedVersion(ctx, "orders"); return err },
		"ListVersions":          func() error { _, err := st.ListVersions(ctx, "orders"); return err },
		"VersionDetail":         func() error { _, err := st.VersionDetail(ctx, "orders", 1); return err },
		"VersionEvents":         func() error { _, err := st.VersionEvents(ctx, "orders", 1); return err },
		"TemplateEvents":        func() error { _, err := st.TemplateEvents(ctx, "orders", 0, 0); return err },
		"SubmitVersion":         func() error { _, err := st.SubmitVersion(ctx, "orders", 1, "dana"); return err },
		"ApproveVersion":        func() error { _, err := st.ApproveVersion(ctx, "orders", 1, "carl", ""); return err },
		"RejectVersion":         func() error { _, err := st.RejectVersion(ctx, "orders", 1, "carl", "no"); return err },
		"WithdrawVersion":       func() error { _, err := st.WithdrawVersion(ctx, "orders", 1, "dana"); return err },
		"ApprovalInbox":         func() error { _, err := st.ApprovalInbox(ctx, "carl"); return err },
		"CreateSchedule": func() error {
			_, err := st.CreateSchedule(ctx, "orders", models.Schedule{Cron: "* * * * *"}, "dana")
			return err
		},
		"Schedule":      func() error { _, err := st.Schedule(ctx, 1); return err },
		"ListSchedules": func() error { _, err := st.ListSchedules(ctx, "", false); return err },
		"UpdateSchedule": func() error {
			on := true
			_, err := st.UpdateSchedule(ctx, 1, models.ScheduleUpdate{Enabled: &on})
			return err
		},
		"DeleteSchedule":     func() error { return st.DeleteSchedule(ctx, 1) },
		"ClaimScheduleFire":  func() error { _, err := st.ClaimScheduleFire(ctx, 1, time.Now()); return err },
		"SetScheduleFireRun": func() error { return st.SetScheduleFireRun(ctx, 1, time.Now(), "r") },
		"LastScheduleFire":   func() error { _, err := st.LastScheduleFire(ctx, 1); return err },
		"PruneScheduleFires": func() error { _, err := st.PruneScheduleFires(ctx, time.Now()); return err },
		"CreateWebhook":      func() error { _, err := st.CreateWebhook(ctx, "orders", models.WebhookHMAC, "dana"); return err },
		"WebhookByKey":       func() error { _, err := st.WebhookByKey(ctx, "k"); return err },
		"TemplateWebhook":    func() error { _, err := st.TemplateWebhook(ctx, "orders"); return err },
		"UpdateWebhook": func() error {
			on := true
			_, err := st.UpdateWebhook(ctx, "orders", models.WebhookUpdate{Enabled: &on})
			return err
		},
		"RotateWebhookSecret": func() error { _, err := st.RotateWebhookSecret(ctx, "orders", "dana"); return err },
		"DeleteWebhook":       func() error { return st.DeleteWebhook(ctx, "orders") },
		"ClaimDelivery":       func() error { _, err := st.ClaimDelivery(ctx, 1, "d"); return err },
		"SetDeliveryRun":      func() error { return st.SetDeliveryRun(ctx, 1, "d", "r") },
		"PruneDeliveries":     func() error { _, err := st.PruneDeliveries(ctx, time.Now()); return err },
	}
	for name, call := range calls {
		err := call()
		if err == nil || !errors.Is(err, context.Canceled) || models.ErrorCode(err) != models.Internal {
			t.Errorf("%s on a cancelled context: %v (code %q), want an internal error wrapping context.Canceled",
				name, err, models.ErrorCode(err))
		}
	}
}

// exerciseClosed calls every method on a closed store: each must return an
// error (internal, not NotFound and not a panic). Closing twice, as the
// test's cleanup does, is harmless.
func exerciseClosed(t *testing.T, st *store.Store) {
	must(t, st.Close(), "close")
	ctx := context.Background()
	if err := st.Ping(ctx); !models.IsCode(err, models.Unavailable) {
		t.Errorf("Ping on a closed store = %v, want Unavailable", err)
	}
	second := func(_ any, err error) error { return err }
	third := func(_, _ any, err error) error { return err }
	now := time.Now()
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for name, err := range map[string]error{
		"Migrate":                   st.Migrate(ctx),
		"CreateUser":                st.CreateUser(ctx, &models.User{Name: "late"}),
		"UserByName":                second(st.UserByName(ctx, "x")),
		"UserByID":                  second(st.UserByID(ctx, 1)),
		"ListUsers":                 second(st.ListUsers(ctx)),
		"CountUsers":                second(st.CountUsers(ctx)),
		"SetUserRoles":              st.SetUserRoles(ctx, 1, nil),
		"SetUserPassword":           st.SetUserPassword(ctx, 1, "h"),
		"SetUserDisabled":           st.SetUserDisabled(ctx, 1, true),
		"CreateToken":               st.CreateToken(ctx, &models.APIToken{UserID: 1, Hash: "h"}),
		"TokenByHash":               third(st.TokenByHash(ctx, "h")),
		"TokenByID":                 second(st.TokenByID(ctx, 1)),
		"ListTokens":                second(st.ListTokens(ctx, 1)),
		"TouchToken":                st.TouchToken(ctx, 1, now),
		"RevokeToken":               st.RevokeToken(ctx, 1, now),
		"CreateSession":             st.CreateSession(ctx, &models.Session{UserID: 1, Hash: "h", ExpiresAt: now}),
		"SessionByHash":             third(st.SessionByHash(ctx, "h", now)),
		"TouchSession":              st.TouchSession(ctx, 1, now),
		"DeleteSession":             st.DeleteSession(ctx, 1),
		"DeleteExpiredSessions":     second(st.DeleteExpiredSessions(ctx, now)),
		"RecordLoginFailure":        st.RecordLoginFailure(ctx, "u", "ip", now),
		"CountLoginFailures":        second(st.CountLoginFailures(ctx, "u", "ip", now)),
		"ClearLoginFailures":        st.ClearLoginFailures(ctx, "u", "ip"),
		"DeleteLoginFailuresBefore": second(st.DeleteLoginFailuresBefore(ctx, now)),
		"Audit":                     st.Audit(ctx, &models.AuditEntry{Actor: "a", Action: "b"}),
		"ListAudit":                 second(st.ListAudit(ctx, 10, 0)),
		"ApplyRunWrites":            st.ApplyRunWrites(ctx, &models.RunWrites{Runs: []models.RunRow{runRow("01X", "t", models.RunRunning, at)}}),
		"LoadRun":                   second(st.LoadRun(ctx, "01X")),
		"ListRuns":                  second(st.ListRuns(ctx, models.RunFilter{})),
		"RunEvents":                 second(st.RunEvents(ctx, "01X", 0, 0)),
		"UnfinishedRunIDs":          second(st.UnfinishedRunIDs(ctx)),
		"CreateTemplate":            third(st.CreateTemplate(ctx, Def("late", "Late"), "dana")),
		"AcquireLock":               second(st.AcquireLock(ctx, "draft:x", "ann", "tab", time.Minute, now)),
		"Lock":                      second(st.Lock(ctx, "draft:x", now)),
		"RenewLock":                 second(st.RenewLock(ctx, "draft:x", "tab", time.Minute, now)),
		"ReleaseLock":               st.ReleaseLock(ctx, "draft:x", "tab"),
		"DiscardDraft":              st.DiscardDraft(ctx, "x", 2, "dana", models.LockGuard{}),
		"ScheduleFires":             second(st.ScheduleFires(ctx, 1, 10)),
		"SkipScheduleFire":          second(st.SkipScheduleFire(ctx, 1, now)),
	} {
		if err == nil || models.ErrorCode(err) != models.Internal || errors.Is(err, gorm.ErrRecordNotFound) {
			t.Errorf("%s on a closed store = %v, want an internal error", name, err)
		}
	}
}
