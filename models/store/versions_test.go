package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

func TestSaveDraft(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		mustCreate(t, st, "orders", "dana")

		// The open draft is edited in place, and every editor is recorded.
		v, err := st.SaveDraft(ctx, "orders", testDef("orders", "Orders v1b", "a", "b"), "erin")
		ok(t, err, "save draft")
		if v.Number != 1 || v.Status != models.VersionDraft || v.Author != "dana" || len(v.Definition.Steps) != 2 || v.Definition.Version != "1" {
			t.Errorf("saved draft = %+v", v)
		}
		_, err = st.SaveDraft(ctx, "orders", testDef("orders", "Orders v1c", "a"), "dana")
		ok(t, err, "save draft again")
		d, err := st.VersionDetail(ctx, "orders", 1)
		ok(t, err, "detail")
		if !slices.Equal(d.Editors, []string{"dana", "erin"}) || d.Definition.Name != "Orders v1c" || d.RequiredApprovals != 1 {
			t.Errorf("detail = editors %v, name %q, quorum %d", d.Editors, d.Definition.Name, d.RequiredApprovals)
		}
		tpl, err := st.Template(ctx, "orders")
		ok(t, err, "template")
		if tpl.Name != "Orders v1c" || tpl.LatestVersion != 1 {
			t.Errorf("template after save = %+v", tpl)
		}

		// Once submitted, a save makes version 2, authored by its saver.
		_, err = st.SubmitVersion(ctx, "orders", 1, "dana")
		ok(t, err, "submit")
		v2, err := st.SaveDraft(ctx, "orders", testDef("orders", "Orders v2", "a", "c"), "erin")
		ok(t, err, "save after submit")
		if v2.Number != 2 || v2.Status != models.VersionDraft || v2.Author != "erin" {
			t.Errorf("v2 = %+v", v2)
		}
		v1, err := st.TemplateVersion(ctx, "orders", 1)
		ok(t, err, "v1")
		if v1.Definition.Name != "Orders v1c" || v1.Status != models.VersionInReview {
			t.Errorf("v1 changed by a later save: %+v", v1)
		}

		_, err = st.SaveDraft(ctx, "orders", testDef("other", "Other"), "erin")
		wantErr(t, err, models.Invalid, "other key", `"other" does not match`)
		_, err = st.SaveDraft(ctx, "nope", testDef("nope", "Nope"), "erin")
		wantErr(t, err, models.NotFound, "unknown template")
		_, err = st.SaveDraft(ctx, "orders", testDef("orders", ""), "erin")
		wantErr(t, err, models.Invalid, "no name")
		_, err = st.SaveDraft(ctx, "orders", testDef("orders", "x"), "")
		wantErr(t, err, models.Invalid, "no editor")

		list, err := st.ListVersions(ctx, "orders")
		ok(t, err, "list versions")
		if len(list) != 2 || list[0].Number != 2 || list[1].Number != 1 || list[1].Status != models.VersionInReview || list[1].SubmittedAt == nil {
			t.Errorf("ListVersions = %+v", list)
		}
		_, err = st.ListVersions(ctx, "nope")
		wantErr(t, err, models.NotFound, "list unknown")
		_, err = st.TemplateVersion(ctx, "orders", 9)
		wantErr(t, err, models.NotFound, "unknown version", "version 9")
		_, err = st.TemplateVersion(ctx, "nope", 1)
		wantErr(t, err, models.NotFound, "version of unknown template")
		_, err = st.VersionDetail(ctx, "orders", 9)
		wantErr(t, err, models.NotFound, "detail of unknown version")
		_, err = st.VersionDetail(ctx, "nope", 1)
		wantErr(t, err, models.NotFound, "detail of unknown template")

		ev, err := st.VersionEvents(ctx, "orders", 1)
		ok(t, err, "events")
		var actions []models.VersionAction
		for _, e := range ev {
			actions = append(actions, e.Action)
		}
		want := []models.VersionAction{models.ReviewCreated, models.ReviewEdited, models.ReviewEdited, models.ReviewSubmitted}
		if !slices.Equal(actions, want) || ev[1].Actor != "erin" || ev[3].Round != 1 {
			t.Errorf("events = %+v, want actions %v", ev, want)
		}
		_, err = st.VersionEvents(ctx, "orders", 9)
		wantErr(t, err, models.NotFound, "events of unknown version")
		_, err = st.VersionEvents(ctx, "nope", 1)
		wantErr(t, err, models.NotFound, "events of unknown template")
	})
}

func TestRestoreVersion(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		mustCreate(t, st, "orders", "dana", "first")
		approve(t, st, "orders", 1, "dana", "carl")
		_, err := st.SaveDraft(ctx, "orders", testDef("orders", "Second", "second"), "dana")
		ok(t, err, "v2")

		_, err = st.RestoreVersion(ctx, "orders", 2, "dana")
		wantErr(t, err, models.Conflict, "restore the draft", "open draft already")

		// Into the open draft (v2) when there is one.
		v, err := st.RestoreVersion(ctx, "orders", 1, "erin")
		ok(t, err, "restore into the draft")
		if v.Number != 2 || v.Definition.Steps[0].ID != "first" || v.Definition.Version != "2" {
			t.Errorf("restored = %+v", v)
		}
		// Into a new draft when there is none.
		approve(t, st, "orders", 2, "dana", "carl")
		v, err = st.RestoreVersion(ctx, "orders", 1, "erin")
		ok(t, err, "restore into a new draft")
		if v.Number != 3 || v.Author != "erin" || v.Status != models.VersionDraft || v.Definition.Steps[0].ID != "first" {
			t.Errorf("restored = %+v", v)
		}
		ev, err := st.VersionEvents(ctx, "orders", 3)
		ok(t, err, "events")
		if len(ev) != 1 || ev[0].Action != models.ReviewRestored || ev[0].FromVersion != 1 || ev[0].Actor != "erin" {
			t.Errorf("v3 events = %+v", ev)
		}

		_, err = st.RestoreVersion(ctx, "orders", 7, "erin")
		wantErr(t, err, models.NotFound, "restore unknown version")
		_, err = st.RestoreVersion(ctx, "nope", 1, "erin")
		wantErr(t, err, models.NotFound, "restore in unknown template")
		_, err = st.RestoreVersion(ctx, "orders", 1, "")
		wantErr(t, err, models.Invalid, "restore without editor")

		latest, err := st.LatestApprovedVersion(ctx, "orders")
		ok(t, err, "latest approved")
		if latest.Number != 2 || latest.Status != models.VersionApproved {
			t.Errorf("latest approved = %+v", latest)
		}
		mustCreate(t, st, "fresh", "dana")
		_, err = st.LatestApprovedVersion(ctx, "fresh")
		wantErr(t, err, models.Conflict, "nothing approved", "no approved version")
		_, err = st.LatestApprovedVersion(ctx, "nope")
		wantErr(t, err, models.NotFound, "latest of unknown template")
		// LatestApprovedNumber agrees, errors included (v3 is a draft).
		n, err := st.LatestApprovedNumber(ctx, "orders")
		ok(t, err, "latest approved number")
		if n != 2 {
			t.Errorf("latest approved number = %d; want 2", n)
		}
		_, err = st.LatestApprovedNumber(ctx, "fresh")
		wantErr(t, err, models.Conflict, "number: nothing approved", "no approved version")
		_, err = st.LatestApprovedNumber(ctx, "nope")
		wantErr(t, err, models.NotFound, "number of unknown template")
	})
}

// TestImmutableAfterSubmit checks that the database itself refuses to change
// a submitted version, whoever writes the UPDATE.
func TestImmutableAfterSubmit(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		mustCreate(t, st, "orders", "dana", "original")
		changed, err := json.Marshal(testDef("orders", "Tampered", "evil"))
		ok(t, err, "marshal")
		db := st.Gorm().WithContext(ctx)
		update := func(n int) error {
			return db.Exec(`UPDATE template_versions SET definition = ? WHERE number = ? AND template_id = (SELECT id FROM templates WHERE key = ?)`,
				string(changed), n, "orders").Error
		}

		// A draft may change.
		ok(t, update(1), "direct update of a draft")
		_, err = st.SaveDraft(ctx, "orders", testDef("orders", "Orders", "original"), "dana")
		ok(t, err, "save")

		_, err = st.SubmitVersion(ctx, "orders", 1, "dana")
		ok(t, err, "submit")
		err = update(1)
		if err == nil || !strings.Contains(err.Error(), "can never change") {
			t.Errorf("direct UPDATE of a version in review: %v, want the trigger's refusal", err)
		}
		err = db.Exec(`UPDATE template_versions SET author = 'mallory' WHERE number = 1`).Error
		if err == nil {
			t.Error("direct UPDATE of the author of a version in review succeeded")
		}

		_, err = st.ApproveVersion(ctx, "orders", 1, "carl", "fine")
		ok(t, err, "approve")
		if err := update(1); err == nil {
			t.Error("direct UPDATE of an approved version's definition succeeded")
		}
		err = db.Exec(`UPDATE template_versions SET status = 'draft' WHERE number = 1`).Error
		if err == nil || !strings.Contains(err.Error(), "final") {
			t.Errorf("direct UPDATE of an approved version's status: %v, want the trigger's refusal", err)
		}
		// Columns that do not touch the definition or the status still may
		// change through the store's own paths only; the definition is intact.
		v, err := st.TemplateVersion(ctx, "orders", 1)
		ok(t, err, "reload")
		if v.Definition.Name != "Orders" || v.Definition.Steps[0].ID != "original" || v.Status != models.VersionApproved {
			t.Errorf("approved version changed: %+v", v)
		}
	})
}

// TestConcurrentSaves checks that saves racing after an approval make one
// new draft, not one each.
func TestConcurrentSaves(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		mustCreate(t, st, "orders", "dana")
		approve(t, st, "orders", 1, "dana", "carl")
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = st.SaveDraft(ctx, "orders", testDef("orders", "Racer", "a"), "dana")
			})
		}
		wg.Wait()
		for i, err := range errs {
			ok(t, err, "save "+string(rune('0'+i)))
		}
		list, err := st.ListVersions(ctx, "orders")
		ok(t, err, "list")
		if len(list) != 2 || list[0].Number != 2 || list[0].Status != models.VersionDraft {
			t.Errorf("after %d racing saves: %+v, want v1 approved and one draft v2", n, list)
		}
	})
}

func TestTemplateEvents(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		mustCreate(t, st, "orders", "dana")
		mustCreate(t, st, "other", "dana")
		approve(t, st, "orders", 1, "dana", "carl")
		_, err := st.SaveDraft(ctx, "orders", testDef("orders", "v2"), "erin")
		ok(t, err, "v2")

		all, err := st.TemplateEvents(ctx, "orders", 0, 0)
		ok(t, err, "events")
		var got []string
		for _, e := range all {
			got = append(got, fmt.Sprintf("v%d %s %s", e.Version, e.Action, e.Actor))
		}
		want := []string{"v2 created erin", "v1 approved carl", "v1 approval carl", "v1 submitted dana", "v1 created dana"}
		if !slices.Equal(got, want) {
			t.Errorf("TemplateEvents = %v, want %v", got, want)
		}
		page, err := st.TemplateEvents(ctx, "orders", all[1].ID, 2)
		ok(t, err, "page")
		if len(page) != 2 || page[0].ID != all[2].ID || page[1].ID != all[3].ID {
			t.Errorf("page after %d = %+v", all[1].ID, page)
		}
		_, err = st.TemplateEvents(ctx, "orders", -1, 0)
		wantErr(t, err, models.Invalid, "negative cursor")
		_, err = st.TemplateEvents(ctx, "nope", 0, 0)
		wantErr(t, err, models.NotFound, "unknown template")
		capped, err := st.TemplateEvents(ctx, "orders", 0, 1<<20)
		ok(t, err, "huge limit")
		if len(capped) != len(all) {
			t.Errorf("huge limit gave %d events", len(capped))
		}
	})
}
