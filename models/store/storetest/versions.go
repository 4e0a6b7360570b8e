package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/baton-run/baton/migrations"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/pressly/goose/v3"
)

// Conformance cases of template versions: drafts, restores, discards and
// their numbers.

func exerciseSaveDraft(t *testing.T, st *store.Store) {
	ctx := context.Background()
	MustCreateTemplate(t, st, "orders", "dana")

	// The open draft is edited in place, and every editor is recorded.
	v, err := st.SaveDraft(ctx, "orders", Def("orders", "Orders v1b", "a", "b"), "erin")
	must(t, err, "save draft")
	if v.Number != 1 || v.Status != models.VersionDraft || v.Author != "dana" || len(v.Definition.Steps) != 2 || v.Definition.Version != "1" {
		t.Errorf("saved draft = %+v", v)
	}
	_, err = st.SaveDraft(ctx, "orders", Def("orders", "Orders v1c", "a"), "dana")
	must(t, err, "save draft again")
	d, err := st.VersionDetail(ctx, "orders", 1)
	must(t, err, "detail")
	if !slices.Equal(d.Editors, []string{"dana", "erin"}) || d.Definition.Name != "Orders v1c" || d.RequiredApprovals != 1 {
		t.Errorf("detail = editors %v, name %q, quorum %d", d.Editors, d.Definition.Name, d.RequiredApprovals)
	}
	tpl, err := st.Template(ctx, "orders")
	must(t, err, "template")
	if tpl.Name != "Orders v1c" || tpl.LatestVersion != 1 {
		t.Errorf("template after save = %+v", tpl)
	}

	// Once submitted, a save makes version 2, authored by its saver.
	_, err = st.SubmitVersion(ctx, "orders", 1, "dana")
	must(t, err, "submit")
	v2, err := st.SaveDraft(ctx, "orders", Def("orders", "Orders v2", "a", "c"), "erin")
	must(t, err, "save after submit")
	if v2.Number != 2 || v2.Status != models.VersionDraft || v2.Author != "erin" {
		t.Errorf("v2 = %+v", v2)
	}
	v1, err := st.TemplateVersion(ctx, "orders", 1)
	must(t, err, "v1")
	if v1.Definition.Name != "Orders v1c" || v1.Status != models.VersionInReview {
		t.Errorf("v1 changed by a later save: %+v", v1)
	}

	_, err = st.SaveDraft(ctx, "orders", Def("other", "Other"), "erin")
	wantErr(t, err, models.Invalid, "other key", `"other" does not match`)
	_, err = st.SaveDraft(ctx, "nope", Def("nope", "Nope"), "erin")
	wantErr(t, err, models.NotFound, "unknown template")
	_, err = st.SaveDraft(ctx, "orders", Def("orders", ""), "erin")
	wantErr(t, err, models.Invalid, "no name")
	_, err = st.SaveDraft(ctx, "orders", Def("orders", "x"), "")
	wantErr(t, err, models.Invalid, "no editor")

	list, err := st.ListVersions(ctx, "orders")
	must(t, err, "list versions")
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
	must(t, err, "events")
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
}

func exerciseRestoreVersion(t *testing.T, st *store.Store) {
	ctx := context.Background()
	MustCreateTemplate(t, st, "orders", "dana", "first")
	MustApprove(t, st, "orders", 1, "dana", "carl")
	_, err := st.SaveDraft(ctx, "orders", Def("orders", "Second", "second"), "dana")
	must(t, err, "v2")

	_, err = st.RestoreVersion(ctx, "orders", 2, "dana")
	wantErr(t, err, models.Conflict, "restore the draft", "open draft already")

	// Into the open draft (v2) when there is one.
	v, err := st.RestoreVersion(ctx, "orders", 1, "erin")
	must(t, err, "restore into the draft")
	if v.Number != 2 || v.Definition.Steps[0].ID != "first" || v.Definition.Version != "2" {
		t.Errorf("restored = %+v", v)
	}
	// Into a new draft when there is none.
	MustApprove(t, st, "orders", 2, "dana", "carl")
	v, err = st.RestoreVersion(ctx, "orders", 1, "erin")
	must(t, err, "restore into a new draft")
	if v.Number != 3 || v.Author != "erin" || v.Status != models.VersionDraft || v.Definition.Steps[0].ID != "first" {
		t.Errorf("restored = %+v", v)
	}
	ev, err := st.VersionEvents(ctx, "orders", 3)
	must(t, err, "events")
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
	must(t, err, "latest approved")
	if latest.Number != 2 || latest.Status != models.VersionApproved {
		t.Errorf("latest approved = %+v", latest)
	}
	MustCreateTemplate(t, st, "fresh", "dana")
	_, err = st.LatestApprovedVersion(ctx, "fresh")
	wantErr(t, err, models.Conflict, "nothing approved", "no approved version")
	_, err = st.LatestApprovedVersion(ctx, "nope")
	wantErr(t, err, models.NotFound, "latest of unknown template")
	// LatestApprovedNumber agrees, errors included (v3 is a draft).
	n, err := st.LatestApprovedNumber(ctx, "orders")
	must(t, err, "latest approved number")
	if n != 2 {
		t.Errorf("latest approved number = %d; want 2", n)
	}
	_, err = st.LatestApprovedNumber(ctx, "fresh")
	wantErr(t, err, models.Conflict, "number: nothing approved", "no approved version")
	_, err = st.LatestApprovedNumber(ctx, "nope")
	wantErr(t, err, models.NotFound, "number of unknown template")
}

// exerciseImmutableAfterSubmit checks that the database itself refuses to change
// a submitted version, whoever writes the UPDATE.
func exerciseImmutableAfterSubmit(t *testing.T, st *store.Store) {
	ctx := context.Background()
	MustCreateTemplate(t, st, "orders", "dana", "original")
	changed, err := json.Marshal(Def("orders", "Tampered", "evil"))
	must(t, err, "marshal")
	db := st.Gorm().WithContext(ctx)
	update := func(n int) error {
		return db.Exec(`UPDATE template_versions SET definition = ? WHERE number = ? AND template_id = (SELECT id FROM templates WHERE key = ?)`,
			string(changed), n, "orders").Error
	}

	// A draft may change.
	must(t, update(1), "direct update of a draft")
	_, err = st.SaveDraft(ctx, "orders", Def("orders", "Orders", "original"), "dana")
	must(t, err, "save")

	_, err = st.SubmitVersion(ctx, "orders", 1, "dana")
	must(t, err, "submit")
	err = update(1)
	if err == nil || !strings.Contains(err.Error(), "can never change") {
		t.Errorf("direct UPDATE of a version in review: %v, want the trigger's refusal", err)
	}
	err = db.Exec(`UPDATE template_versions SET author = 'mallory' WHERE number = 1`).Error
	if err == nil {
		t.Error("direct UPDATE of the author of a version in review succeeded")
	}

	_, err = st.ApproveVersion(ctx, "orders", 1, "carl", "fine")
	must(t, err, "approve")
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
	must(t, err, "reload")
	if v.Definition.Name != "Orders" || v.Definition.Steps[0].ID != "original" || v.Status != models.VersionApproved {
		t.Errorf("approved version changed: %+v", v)
	}
}

// exerciseConcurrentSaves checks that saves racing after an approval make one
// new draft, not one each.
func exerciseConcurrentSaves(t *testing.T, st *store.Store) {
	ctx := context.Background()
	MustCreateTemplate(t, st, "orders", "dana")
	MustApprove(t, st, "orders", 1, "dana", "carl")
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = st.SaveDraft(ctx, "orders", Def("orders", "Racer", "a"), "dana")
		})
	}
	wg.Wait()
	for i, err := range errs {
		must(t, err, "save "+string(rune('0'+i)))
	}
	list, err := st.ListVersions(ctx, "orders")
	must(t, err, "list")
	if len(list) != 2 || list[0].Number != 2 || list[0].Status != models.VersionDraft {
		t.Errorf("after %d racing saves: %+v, want v1 approved and one draft v2", n, list)
	}
}

// A draft opened by the first save after a submission can be discarded:
// the template is back to its submitted version, name included, and the
// next save opens a fresh draft with a new number, never the discarded one.
func exerciseDiscardDraft(t *testing.T, st *store.Store) {
	ctx := context.Background()
	MustCreateTemplate(t, st, "orders", "dana", "a")
	free := models.LockGuard{}

	// Version 1 is the only version: discarding it would leave nothing.
	err := st.DiscardDraft(ctx, "orders", 1, "dana", free)
	wantErr(t, err, models.Conflict, "only version", "only version")

	_, err = st.SubmitVersion(ctx, "orders", 1, "dana")
	must(t, err, "submit")
	err = st.DiscardDraft(ctx, "orders", 1, "dana", free)
	wantErr(t, err, models.Conflict, "submitted version", "in_review, not a draft")

	_, err = st.SaveDraft(ctx, "orders", Def("orders", "Orders experiment", "a", "b"), "erin")
	must(t, err, "save a new draft")
	must(t, st.DiscardDraft(ctx, "orders", 2, "erin", free), "discard")

	tpl, err := st.Template(ctx, "orders")
	must(t, err, "template")
	if tpl.LatestVersion != 1 || tpl.Name != "Template orders" {
		t.Errorf("after discard: latest v%d named %q, want v1 named %q", tpl.LatestVersion, tpl.Name, "Template orders")
	}
	_, err = st.TemplateVersion(ctx, "orders", 2)
	wantErr(t, err, models.NotFound, "discarded version")
	audit, err := st.ListAudit(ctx, 10, 0)
	must(t, err, "audit")
	if len(audit) == 0 || audit[0].Action != models.AuditDraftDiscarded || audit[0].Actor != "erin" || audit[0].Target != "template:orders/v2" {
		t.Errorf("newest audit entry = %+v, want erin's draft_discarded of v2", audit[0])
	}

	// The next save opens version 3: "draft_discarded v2" in the audit
	// log must keep meaning the draft that was discarded.
	v3, err := st.SaveDraft(ctx, "orders", Def("orders", "Orders v3", "a"), "dana")
	must(t, err, "save after discard")
	if v3.Number != 3 || v3.Author != "dana" || v3.Definition.Version != "3" {
		t.Errorf("new draft = v%d by %s (definition version %q), want v3 by dana", v3.Number, v3.Author, v3.Definition.Version)
	}
	_, err = st.TemplateVersion(ctx, "orders", 2)
	wantErr(t, err, models.NotFound, "v2 stays discarded")
	evs, err := st.VersionEvents(ctx, "orders", 3)
	must(t, err, "events")
	if len(evs) != 1 || evs[0].Action != models.ReviewCreated || evs[0].Actor != "dana" {
		t.Errorf("events of the new v3 = %+v, want only dana's creation", evs)
	}
	list, err := st.ListVersions(ctx, "orders")
	must(t, err, "list")
	if len(list) != 2 || list[0].Number != 3 || list[1].Number != 1 {
		t.Errorf("versions after discard and save = %+v, want v3 and v1", list)
	}

	err = st.DiscardDraft(ctx, "orders", 9, "dana", free)
	wantErr(t, err, models.NotFound, "unknown version")
	err = st.DiscardDraft(ctx, "nope", 2, "dana", free)
	wantErr(t, err, models.NotFound, "unknown template")
	err = st.DiscardDraft(ctx, "orders", 3, " ", free)
	wantErr(t, err, models.Invalid, "no actor")
}

// exerciseVersionNumbersNeverReused races designers who each open a draft and
// discard it again: every draft gets its own number, so no number is
// discarded twice, and the next draft is numbered past all of them.
func exerciseVersionNumbersNeverReused(t *testing.T, st *store.Store) {
	ctx := context.Background()
	MustCreateTemplate(t, st, "orders", "dana", "a")
	_, err := st.SubmitVersion(ctx, "orders", 1, "dana")
	must(t, err, "submit v1")

	const workers, rounds = 4, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Go(func() {
			who := fmt.Sprintf("designer%d", w)
			for range rounds {
				v, err := st.SaveDraft(ctx, "orders", Def("orders", "Racer", "a"), who)
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
	must(t, err, "audit")
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
	next, err := st.SaveDraft(ctx, "orders", Def("orders", "After the race", "a"), "dana")
	must(t, err, "save after the race")
	if next.Number <= highest {
		t.Errorf("the next draft is v%d, not past the highest discarded v%d", next.Number, highest)
	}
}

// exerciseVersionNumbersMigration checks migration 00007 on a database that
// discarded a draft before it: the template's counter starts past the
// discarded number the audit log names, not at its highest live version.
func exerciseVersionNumbersMigration(t *testing.T, st *store.Store) {
	ctx := context.Background()
	MustCreateTemplate(t, st, "orders", "dana", "a")
	MustCreateTemplate(t, st, "ord", "dana", "a") // a key that is a prefix of another
	_, err := st.SubmitVersion(ctx, "orders", 1, "dana")
	must(t, err, "submit v1")
	for range 2 {
		v, err := st.SaveDraft(ctx, "orders", Def("orders", "Experiment", "a", "b"), "dana")
		must(t, err, "open a draft")
		must(t, st.DiscardDraft(ctx, "orders", v.Number, "dana", models.LockGuard{}), "discard")
	}
	// v2 and v3 were discarded. Roll 00007 back and apply it again, as
	// an upgrade from a release without the counter would.
	fsys, err := migrations.FS(st.Dialect())
	must(t, err, "migrations")
	dialect := goose.DialectSQLite3
	if st.Dialect() == migrations.Postgres {
		dialect = goose.DialectPostgres
	}
	p, err := goose.NewProvider(dialect, st.SQLDB(), fsys, goose.WithDisableGlobalRegistry(true))
	must(t, err, "goose")
	// Down alone would roll back only the newest migration, which is not
	// 00007 any more: go down to 00006, then up through 00007 and later.
	if _, err := p.DownTo(ctx, 6); err != nil {
		t.Fatalf("down to 00006: %v", err)
	}
	if v, err := p.GetDBVersion(ctx); err != nil || v != 6 {
		t.Fatalf("after the rollback the schema is at version %d (%v), want 6: without version_seq", v, err)
	}
	must(t, st.Migrate(ctx), "up again")

	v, err := st.SaveDraft(ctx, "orders", Def("orders", "After the upgrade", "a"), "dana")
	must(t, err, "save after the upgrade")
	if v.Number != 4 {
		t.Errorf("first draft after the upgrade is v%d, want v4 (v2 and v3 were discarded)", v.Number)
	}
	_, err = st.SubmitVersion(ctx, "ord", 1, "dana")
	must(t, err, "submit ord v1")
	v, err = st.SaveDraft(ctx, "ord", Def("ord", "Other", "a"), "dana")
	must(t, err, "save ord")
	if v.Number != 2 {
		t.Errorf("ord's next draft is v%d, want v2: another template's discards do not count", v.Number)
	}
}
