package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// Conformance cases of templates.

func exerciseCreateTemplate(t *testing.T, st *store.Store) {
	ctx := context.Background()
	def := Def("orders", "Orders", "a", "b")
	def.Description = "Ships orders"
	tpl, v, err := st.CreateTemplate(ctx, def, "dana")
	must(t, err, "create")
	if tpl.Key != "orders" || tpl.Name != "Orders" || tpl.Description != "Ships orders" || tpl.CreatedBy != "dana" ||
		tpl.RequiredApprovals != 1 || tpl.Tags == nil || tpl.CreatedAt.IsZero() {
		t.Errorf("template = %+v", tpl)
	}
	if v.Template != "orders" || v.Number != 1 || v.Status != models.VersionDraft || v.Author != "dana" ||
		v.Definition.Version != "1" || len(v.Definition.Steps) != 2 || v.SubmittedAt != nil {
		t.Errorf("version 1 = %+v", v)
	}

	_, _, err = st.CreateTemplate(ctx, Def("orders", "Again"), "erin")
	wantErr(t, err, models.Conflict, "same key", `template "orders"`, "already exists")
	_, _, err = st.CreateTemplate(ctx, Def("", "No id"), "erin")
	wantErr(t, err, models.Invalid, "no id")
	if d := models.ErrorDetails(err); len(d) != 1 || d[0].Path != "id" {
		t.Errorf("no id: details %v, want one problem at id", d)
	}
	_, _, err = st.CreateTemplate(ctx, Def("x", " "), "erin")
	wantErr(t, err, models.Invalid, "no name")
	_, _, err = st.CreateTemplate(ctx, Def("x", "X"), " ")
	wantErr(t, err, models.Invalid, "no author", "author")

	got, err := st.Template(ctx, "orders")
	must(t, err, "get")
	if got.Key != "orders" || got.LatestVersion != 1 || got.LatestStatus != models.VersionDraft || got.LatestApprovedVersion != 0 {
		t.Errorf("Template(orders) = %+v", got)
	}
	_, err = st.Template(ctx, "nope")
	wantErr(t, err, models.NotFound, "unknown template", `template "nope" not found`)

	audit, err := st.ListAudit(ctx, 10, 0)
	must(t, err, "audit")
	if len(audit) != 1 || audit[0].Action != models.AuditTemplateCreated || audit[0].Actor != "dana" || audit[0].Target != "template:orders" {
		t.Errorf("audit = %+v", audit)
	}
}

func exerciseListTemplates(t *testing.T, st *store.Store) {
	ctx := context.Background()
	// alpha: approved v1 and a draft v2; beta: in review; gamma: draft;
	// delta_1 and "del%ta": drafts with LIKE wildcards in their names.
	MustCreateTemplate(t, st, "alpha", "dana")
	setTags(t, st, "alpha", "billing", "nightly")
	MustApprove(t, st, "alpha", 1, "dana", "carl")
	_, err := st.SaveDraft(ctx, "alpha", Def("alpha", "Alpha v2", "x"), "dana")
	must(t, err, "alpha v2")
	MustCreateTemplate(t, st, "beta", "dana")
	setTags(t, st, "beta", "billing")
	_, err = st.SubmitVersion(ctx, "beta", 1, "dana")
	must(t, err, "submit beta")
	g := Def("gamma", "Gamma Reports")
	g.Description = "Monthly REPORT for finance"
	_, _, err = st.CreateTemplate(ctx, g, "dana")
	must(t, err, "gamma")
	_, _, err = st.CreateTemplate(ctx, Def("delta", "delta_1 50%"), "dana")
	must(t, err, "delta")

	list := func(f models.TemplateFilter) []string {
		t.Helper()
		page, err := st.ListTemplates(ctx, f)
		must(t, err, fmt.Sprintf("list %+v", f))
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
	must(t, err, "list")
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
		must(t, err, "page")
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
	must(t, err, "huge limit")
	if len(big.Templates) != 4 {
		t.Errorf("huge limit returned %d templates", len(big.Templates))
	}
}

func exerciseTemplateSettings(t *testing.T, st *store.Store) {
	ctx := context.Background()
	MustCreateTemplate(t, st, "orders", "dana")
	two := 2
	tags := []string{" ops ", "billing", "ops"}
	tpl, err := st.UpdateTemplateSettings(ctx, "orders", models.TemplateSettings{Tags: &tags, RequiredApprovals: &two}, "admin")
	must(t, err, "update")
	if tpl.RequiredApprovals != 2 || !slices.Equal(tpl.Tags, []string{"ops", "billing"}) {
		t.Errorf("after update: %+v", tpl)
	}
	// No change: nothing written, the template returned.
	same, err := st.UpdateTemplateSettings(ctx, "orders", models.TemplateSettings{}, "admin")
	must(t, err, "empty update")
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
	must(t, err, "audit")
	if audit[0].Action != models.AuditTemplateSettings || audit[0].Detail["requiredApprovals"] != float64(2) {
		t.Errorf("settings audit = %+v", audit[0])
	}
}

func exerciseTemplateEvents(t *testing.T, st *store.Store) {
	ctx := context.Background()
	MustCreateTemplate(t, st, "orders", "dana")
	MustCreateTemplate(t, st, "other", "dana")
	MustApprove(t, st, "orders", 1, "dana", "carl")
	_, err := st.SaveDraft(ctx, "orders", Def("orders", "v2"), "erin")
	must(t, err, "v2")

	all, err := st.TemplateEvents(ctx, "orders", 0, 0)
	must(t, err, "events")
	var got []string
	for _, e := range all {
		got = append(got, fmt.Sprintf("v%d %s %s", e.Version, e.Action, e.Actor))
	}
	want := []string{"v2 created erin", "v1 approved carl", "v1 approval carl", "v1 submitted dana", "v1 created dana"}
	if !slices.Equal(got, want) {
		t.Errorf("TemplateEvents = %v, want %v", got, want)
	}
	page, err := st.TemplateEvents(ctx, "orders", all[1].ID, 2)
	must(t, err, "page")
	if len(page) != 2 || page[0].ID != all[2].ID || page[1].ID != all[3].ID {
		t.Errorf("page after %d = %+v", all[1].ID, page)
	}
	_, err = st.TemplateEvents(ctx, "orders", -1, 0)
	wantErr(t, err, models.Invalid, "negative cursor")
	_, err = st.TemplateEvents(ctx, "nope", 0, 0)
	wantErr(t, err, models.NotFound, "unknown template")
	capped, err := st.TemplateEvents(ctx, "orders", 0, 1<<20)
	must(t, err, "huge limit")
	if len(capped) != len(all) {
		t.Errorf("huge limit gave %d events", len(capped))
	}
}

// exerciseSearchLetterCase: a search ignores the case of every letter, not
// only of ASCII ones, in keys, names and descriptions, on every dialect.
func exerciseSearchLetterCase(t *testing.T, st *store.Store) {
	ctx := context.Background()
	_, _, err := st.CreateTemplate(ctx, Def("transfer", "Überweisung prüfen"), "dana")
	must(t, err, "create transfer")
	d := Def("summer", "Summer")
	d.Description = "Rapport d'ÉTÉ pour Ørsted"
	_, _, err = st.CreateTemplate(ctx, d, "dana")
	must(t, err, "create summer")
	MustCreateTemplate(t, st, "plain", "dana")
	for _, c := range []struct {
		search string
		want   []string
	}{
		{"Über", []string{"transfer"}},
		{"über", []string{"transfer"}},
		{"ÜBERWEISUNG", []string{"transfer"}},
		{"PRÜFEN", []string{"transfer"}},
		{"été", []string{"summer"}},
		{"ørsted", []string{"summer"}},
		{"ØRSTED", []string{"summer"}},
		{"TRANSFER", []string{"transfer"}},
		{"ue", nil},
	} {
		page, err := st.ListTemplates(ctx, models.TemplateFilter{Search: c.search})
		must(t, err, "search "+c.search)
		var keys []string
		for _, s := range page.Templates {
			keys = append(keys, s.Key)
		}
		if !slices.Equal(keys, c.want) {
			t.Errorf("search %q found %v, want %v", c.search, keys, c.want)
		}
	}
}
