package storetest

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// Conformance cases of users and login throttling.

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

	wantErr(t, st.CreateUser(ctx, &models.User{Name: "bob"}), models.Conflict, "second bob")
	wantErr(t, st.CreateUser(ctx, &models.User{Name: "  "}), models.Invalid, "blank name")
	wantErr(t, st.CreateUser(ctx, &models.User{Name: "eve", Roles: []models.Role{"root"}}), models.Invalid, "unknown role")

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
	wantErr(t, err, models.NotFound, "unknown name")
	_, err = st.UserByID(ctx, 424242)
	wantErr(t, err, models.NotFound, "unknown id")

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
	wantErr(t, st.SetUserRoles(ctx, bob.ID, []models.Role{"king"}), models.Invalid, "set unknown role")
	wantErr(t, st.SetUserRoles(ctx, 424242, nil), models.NotFound, "set roles of unknown user")
	must(t, st.SetUserPassword(ctx, bob.ID, "new-hash"), "set password")
	wantErr(t, st.SetUserPassword(ctx, 424242, "x"), models.NotFound, "set password of unknown user")
	must(t, st.SetUserDisabled(ctx, bob.ID, true), "disable")
	wantErr(t, st.SetUserDisabled(ctx, 424242, true), models.NotFound, "disable unknown user")
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
