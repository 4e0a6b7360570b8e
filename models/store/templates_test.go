package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

// eachDB runs fn on a fresh store of every configured dialect, in parallel.
func eachDB(t *testing.T, fn func(t *testing.T, st *store.Store)) {
	t.Helper()
	for _, db := range storetest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, db.Open(t))
		})
	}
}

// testDef is a small valid definition; extra steps are log steps.
func testDef(key, name string, steps ...string) models.Definition {
	if len(steps) == 0 {
		steps = []string{"hello"}
	}
	d := models.Definition{ID: key, Name: name}
	for _, s := range steps {
		d.Steps = append(d.Steps, models.Step{ID: s, Type: models.StepCommand, Action: models.Action{Kind: models.KindLog, Message: "hi from " + s}})
	}
	return d
}

func ok(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantErr fails t unless err carries code and its message holds every
// fragment.
func wantErr(t testing.TB, err error, code models.Code, what string, fragments ...string) {
	t.Helper()
	if got := models.ErrorCode(err); err == nil || got != code {
		t.Fatalf("%s: got error %v (code %q), want code %q", what, err, got, code)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("%s: error %q does not mention %q", what, err, f)
		}
	}
}

func mustCreate(t testing.TB, st *store.Store, key, author string, steps ...string) *models.Version {
	t.Helper()
	_, v, err := st.CreateTemplate(context.Background(), testDef(key, "Template "+key, steps...), author)
	ok(t, err, "create template "+key)
	return v
}

func setTags(t testing.TB, st *store.Store, key string, tags ...string) {
	t.Helper()
	_, err := st.UpdateTemplateSettings(context.Background(), key, models.TemplateSettings{Tags: &tags}, "admin")
	ok(t, err, "tag "+key)
}

// approve submits version n (by submitter) and approves it (by approver).
func approve(t testing.TB, st *store.Store, key string, n int, submitter, approver string) *models.VersionDetail {
	t.Helper()
	ctx := context.Background()
	_, err := st.SubmitVersion(ctx, key, n, submitter)
	ok(t, err, fmt.Sprintf("submit %s v%d", key, n))
	d, err := st.ApproveVersion(ctx, key, n, approver, "")
	ok(t, err, fmt.Sprintf("approve %s v%d", key, n))
	return d
}

func TestReviewColumnDrift(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, st *store.Store) {
		g := st.Gorm()
		for _, m := range store.ReviewRowModels {
			stmt := &gorm.Statement{DB: g}
			ok(t, stmt.Parse(m), fmt.Sprintf("parse %T", m))
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

func TestCreateTemplate(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		def := testDef("orders", "Orders", "a", "b")
		def.Description = "Ships orders"
		tpl, v, err := st.CreateTemplate(ctx, def, "dana")
		ok(t, err, "create")
		if tpl.Key != "orders" || tpl.Name != "Orders" || tpl.Description != "Ships orders" || tpl.CreatedBy != "dana" ||
			tpl.RequiredApprovals != 1 || tpl.Tags == nil || tpl.CreatedAt.IsZero() {
			t.Errorf("template = %+v", tpl)
		}
		if v.Template != "orders" || v.Number != 1 || v.Status != models.VersionDraft || v.Author != "dana" ||
			v.Definition.Version != "1" || len(v.Definition.Steps) != 2 || v.SubmittedAt != nil {
			t.Errorf("version 1 = %+v", v)
		}

		_, _, err = st.CreateTemplate(ctx, testDef("orders", "Again"), "erin")
		wantErr(t, err, models.Conflict, "same key", `template "orders"`, "already exists")
		_, _, err = st.CreateTemplate(ctx, testDef("", "No id"), "erin")
		wantErr(t, err, models.Invalid, "no id")
		if d := models.ErrorDetails(err); len(d) != 1 || d[0].Path != "id" {
			t.Errorf("no id: details %v, want one problem at id", d)
		}
		_, _, err = st.CreateTemplate(ctx, testDef("x", " "), "erin")
		wantErr(t, err, models.Invalid, "no name")
		_, _, err = st.CreateTemplate(ctx, testDef("x", "X"), " ")
		wantErr(t, err, models.Invalid, "no author", "author")

		got, err := st.Template(ctx, "orders")
		ok(t, err, "get")
		if got.Key != "orders" || got.LatestVersion != 1 || got.LatestStatus != models.VersionDraft || got.LatestApprovedVersion != 0 {
			t.Errorf("Template(orders) = %+v", got)
		}
		_, err = st.Template(ctx, "nope")
		wantErr(t, err, models.NotFound, "unknown template", `template "nope" not found`)

		audit, err := st.ListAudit(ctx, 10, 0)
		ok(t, err, "audit")
		if len(audit) != 1 || audit[0].Action != models.AuditTemplateCreated || audit[0].Actor != "dana" || audit[0].Target != "template:orders" {
			t.Errorf("audit = %+v", audit)
		}
	})
}

func TestListTemplates(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		// alpha: approved v1 and a draft v2; beta: in review; gamma: draft;
		// delta_1 and "del%ta": drafts with LIKE wildcards in their names.
		mustCreate(t, st, "alpha", "dana")
		setTags(t, st, "alpha", "billing", "nightly")
		approve(t, st, "alpha", 1, "dana", "carl")
		_, err := st.SaveDraft(ctx, "alpha", testDef("alpha", "Alpha v2", "x"), "dana")
		ok(t, err, "alpha v2")
		mustCreate(t, st, "beta", "dana")
		setTags(t, st, "beta", "billing")
		_, err = st.SubmitVersion(ctx, "beta", 1, "dana")
		ok(t, err, "submit beta")
		g := testDef("gamma", "Gamma Reports")
		g.Description = "Monthly REPORT for finance"
		_, _, err = st.CreateTemplate(ctx, g, "dana")
		ok(t, err, "gamma")
		_, _, err = st.CreateTemplate(ctx, testDef("delta", "delta_1 50%"), "dana")
		ok(t, err, "delta")

		list := func(f models.TemplateFilter) []string {
			t.Helper()
			page, err := st.ListTemplates(ctx, f)
			ok(t, err, fmt.Sprintf("list %+v", f))
			var keys []string
			for _, s := range page.Templates {
				keys = append(keys, s.Key)
			}
			return keys
		}
		for _, c := range []struct {
			f    models.TemplateFilter
			want []string
		}{
			{models.TemplateFilter{}, []string{"alpha", "beta", "delta", "gamma"}},
			{models.TemplateFilter{Search: "report"}, []string{"gamma"}},
			{models.TemplateFilter{Search: "ALP"}, []string{"alpha"}},
			{models.TemplateFilter{Search: "_1"}, []string{"delta"}},
			{models.TemplateFilter{Search: "%"}, []string{"delta"}},
			{models.TemplateFilter{Search: "a_p"}, nil},
			{models.TemplateFilter{Status: models.VersionDraft}, []string{"alpha", "delta", "gamma"}},
			{models.TemplateFilter{Status: models.VersionInReview}, []string{"beta"}},
			{models.TemplateFilter{Status: models.VersionApproved}, nil},
			{models.TemplateFilter{Tag: "billing"}, []string{"alpha", "beta"}},
			{models.TemplateFilter{Tag: "nightly"}, []string{"alpha"}},
			{models.TemplateFilter{Tag: "bill"}, nil},
			{models.TemplateFilter{Tag: "billing", Status: models.VersionInReview}, []string{"beta"}},
			{models.TemplateFilter{After: "beta"}, []string{"delta", "gamma"}},
		} {
			if got := list(c.f); !slices.Equal(got, c.want) {
				t.Errorf("ListTemplates(%+v) = %v, want %v", c.f, got, c.want)
			}
		}

		page, err := st.ListTemplates(ctx, models.TemplateFilter{})
		ok(t, err, "list")
		a := page.Templates[0]
		if a.Name != "Alpha v2" || a.LatestVersion != 2 || a.LatestStatus != models.VersionDraft || a.LatestApprovedVersion != 1 ||
			!slices.Equal(a.Tags, []string{"billing", "nightly"}) {
			t.Errorf("alpha summary = %+v", a)
		}
		if page.Next != "" {
			t.Errorf("a single page has Next %q", page.Next)
		}

		// Pages of two, following the cursor.
		var all []string
		f := models.TemplateFilter{Limit: 2}
		for range 5 {
			page, err := st.ListTemplates(ctx, f)
			ok(t, err, "page")
			for _, s := range page.Templates {
				all = append(all, s.Key)
			}
			if page.Next == "" {
				break
			}
			f.After = page.Next
		}
		if want := []string{"alpha", "beta", "delta", "gamma"}; !slices.Equal(all, want) {
			t.Errorf("paged keys = %v, want %v", all, want)
		}

		_, err = st.ListTemplates(ctx, models.TemplateFilter{Status: "published"})
		wantErr(t, err, models.Invalid, "unknown status", "published")
		big, err := st.ListTemplates(ctx, models.TemplateFilter{Limit: 100000})
		ok(t, err, "huge limit")
		if len(big.Templates) != 4 {
			t.Errorf("huge limit returned %d templates", len(big.Templates))
		}
	})
}

func TestTemplateSettings(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		mustCreate(t, st, "orders", "dana")
		two := 2
		tags := []string{" ops ", "billing", "ops"}
		tpl, err := st.UpdateTemplateSettings(ctx, "orders", models.TemplateSettings{Tags: &tags, RequiredApprovals: &two}, "admin")
		ok(t, err, "update")
		if tpl.RequiredApprovals != 2 || !slices.Equal(tpl.Tags, []string{"ops", "billing"}) {
			t.Errorf("after update: %+v", tpl)
		}
		// No change: nothing written, the template returned.
		same, err := st.UpdateTemplateSettings(ctx, "orders", models.TemplateSettings{}, "admin")
		ok(t, err, "empty update")
		if same.RequiredApprovals != 2 || !same.UpdatedAt.Equal(tpl.UpdatedAt) {
			t.Errorf("empty update changed %+v", same)
		}
		for _, n := range []int{0, -1, models.MaxRequiredApprovals + 1} {
			_, err = st.UpdateTemplateSettings(ctx, "orders", models.TemplateSettings{RequiredApprovals: &n}, "admin")
			wantErr(t, err, models.Invalid, fmt.Sprintf("quorum %d", n), "between 1 and")
		}
		empty := []string{""}
		_, err = st.UpdateTemplateSettings(ctx, "orders", models.TemplateSettings{Tags: &empty}, "admin")
		wantErr(t, err, models.Invalid, "empty tag")
		_, err = st.UpdateTemplateSettings(ctx, "nope", models.TemplateSettings{RequiredApprovals: &two}, "admin")
		wantErr(t, err, models.NotFound, "unknown template")
		_, err = st.UpdateTemplateSettings(ctx, "orders", models.TemplateSettings{RequiredApprovals: &two}, "")
		wantErr(t, err, models.Invalid, "no actor")

		audit, err := st.ListAudit(ctx, 1, 0)
		ok(t, err, "audit")
		if audit[0].Action != models.AuditTemplateSettings || audit[0].Detail["requiredApprovals"] != float64(2) {
			t.Errorf("settings audit = %+v", audit[0])
		}
	})
}

// TestReviewCancelledContext checks that a database failure surfaces as an
// error (wrapping the cause) from every method, never as a NotFound, a
// false claim or a silent success.
func TestReviewCancelledContext(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, st *store.Store) {
		mustCreate(t, st, "orders", "dana")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		def := testDef("orders", "Orders")
		two := 2
		calls := map[string]func() error{
			"CreateTemplate": func() error { _, _, err := st.CreateTemplate(ctx, testDef("new", "New"), "dana"); return err },
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
	})
}
