package store_test

import (
	"context"
	"testing"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// A draft opened by the first save after a submission can be discarded:
// the template is back to its submitted version, name included, and the
// next save opens a fresh draft with the same number.
func TestDiscardDraft(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		mustCreate(t, st, "orders", "dana", "a")

		// Version 1 is the only version: discarding it would leave nothing.
		err := st.DiscardDraft(ctx, "orders", 1, "dana")
		wantErr(t, err, models.Conflict, "only version", "only version")

		_, err = st.SubmitVersion(ctx, "orders", 1, "dana")
		ok(t, err, "submit")
		err = st.DiscardDraft(ctx, "orders", 1, "dana")
		wantErr(t, err, models.Conflict, "submitted version", "in_review, not a draft")

		_, err = st.SaveDraft(ctx, "orders", testDef("orders", "Orders experiment", "a", "b"), "erin")
		ok(t, err, "save a new draft")
		ok(t, st.DiscardDraft(ctx, "orders", 2, "erin"), "discard")

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

		// The next save opens version 2 again, with a trail of its own.
		v2, err := st.SaveDraft(ctx, "orders", testDef("orders", "Orders v2", "a"), "dana")
		ok(t, err, "save after discard")
		if v2.Number != 2 || v2.Author != "dana" {
			t.Errorf("new draft = v%d by %s, want v2 by dana", v2.Number, v2.Author)
		}
		evs, err := st.VersionEvents(ctx, "orders", 2)
		ok(t, err, "events")
		if len(evs) != 1 || evs[0].Action != models.ReviewCreated || evs[0].Actor != "dana" {
			t.Errorf("events of the new v2 = %+v, want only dana's creation", evs)
		}

		err = st.DiscardDraft(ctx, "orders", 9, "dana")
		wantErr(t, err, models.NotFound, "unknown version")
		err = st.DiscardDraft(ctx, "nope", 2, "dana")
		wantErr(t, err, models.NotFound, "unknown template")
		err = st.DiscardDraft(ctx, "orders", 2, " ")
		wantErr(t, err, models.Invalid, "no actor")
	})
}
