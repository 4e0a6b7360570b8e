package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// Conformance cases of the review of versions: submit, approve, reject and
// withdraw.

func actionsOf(t testing.TB, st *store.Store, key string, n int) []models.VersionAction {
	t.Helper()
	ev, err := st.VersionEvents(context.Background(), key, n)
	must(t, err, "events")
	var out []models.VersionAction
	for _, e := range ev {
		out = append(out, e.Action)
	}
	return out
}

func exerciseReviewFlow(t *testing.T, st *store.Store) {
	ctx := context.Background()
	MustCreateTemplate(t, st, "orders", "dana")
	_, err := st.SaveDraft(ctx, "orders", Def("orders", "Orders"), "erin")
	must(t, err, "erin edits")

	// Wrong states.
	_, err = st.ApproveVersion(ctx, "orders", 1, "carl", "")
	wantErr(t, err, models.Conflict, "approve a draft", "is draft", "only a version in review")
	_, err = st.RejectVersion(ctx, "orders", 1, "carl", "no")
	wantErr(t, err, models.Conflict, "reject a draft")
	_, err = st.WithdrawVersion(ctx, "orders", 1, "dana")
	wantErr(t, err, models.Conflict, "withdraw a draft")

	d, err := st.SubmitVersion(ctx, "orders", 1, "dana")
	must(t, err, "submit")
	if d.Status != models.VersionInReview || d.SubmittedAt == nil || len(d.Approvals) != 0 {
		t.Errorf("submitted = %+v", d)
	}
	_, err = st.SubmitVersion(ctx, "orders", 1, "dana")
	wantErr(t, err, models.Conflict, "submit twice", "only a draft")

	// Four eyes: neither the author nor an editor may approve or reject.
	_, err = st.ApproveVersion(ctx, "orders", 1, "dana", "")
	wantErr(t, err, models.Forbidden, "author approves", "dana may not approve", "authored it", "four eyes")
	_, err = st.ApproveVersion(ctx, "orders", 1, "erin", "")
	wantErr(t, err, models.Forbidden, "editor approves", "erin may not approve", "edited it")
	_, err = st.RejectVersion(ctx, "orders", 1, "erin", "meh")
	wantErr(t, err, models.Forbidden, "editor rejects", "withdraw")

	_, err = st.ApproveVersion(ctx, "orders", 1, "", "")
	wantErr(t, err, models.Invalid, "no approver")
	_, err = st.ApproveVersion(ctx, "orders", 5, "carl", "")
	wantErr(t, err, models.NotFound, "approve unknown version")
	_, err = st.ApproveVersion(ctx, "nope", 1, "carl", "")
	wantErr(t, err, models.NotFound, "approve in unknown template")

	d, err = st.ApproveVersion(ctx, "orders", 1, "carl", "  looks good  ")
	must(t, err, "approve")
	if d.Status != models.VersionApproved || d.Reviewer != "carl" || d.Comment != "looks good" || d.ReviewedAt == nil ||
		len(d.Approvals) != 1 || d.Approvals[0].Approver != "carl" || d.Approvals[0].Round != 1 {
		t.Errorf("approved = %+v", d)
	}
	_, err = st.ApproveVersion(ctx, "orders", 1, "fred", "")
	wantErr(t, err, models.Conflict, "approve an approved version", "is approved")
	_, err = st.WithdrawVersion(ctx, "orders", 1, "dana")
	wantErr(t, err, models.Conflict, "withdraw an approved version")

	want := []models.VersionAction{models.ReviewCreated, models.ReviewEdited, models.ReviewSubmitted, models.ReviewApproval, models.ReviewApproved}
	if got := actionsOf(t, st, "orders", 1); !slices.Equal(got, want) {
		t.Errorf("trail = %v, want %v", got, want)
	}
	audit, err := st.ListAudit(ctx, 10, 0)
	must(t, err, "audit")
	var acts []string
	for _, a := range audit {
		if a.Target == "template:orders/v1" {
			acts = append(acts, a.Actor+":"+a.Action)
		}
	}
	if w := []string{"carl:" + models.AuditVersionApproved, "dana:" + models.AuditVersionSubmitted}; !slices.Equal(acts, w) {
		t.Errorf("audit = %v, want %v", acts, w)
	}

	// Rejection: a comment is required, and it is final.
	_, err = st.SaveDraft(ctx, "orders", Def("orders", "Orders 2"), "dana")
	must(t, err, "v2")
	_, err = st.SubmitVersion(ctx, "orders", 2, "dana")
	must(t, err, "submit v2")
	_, err = st.RejectVersion(ctx, "orders", 2, "carl", "   ")
	wantErr(t, err, models.Invalid, "reject without comment", "comment")
	_, err = st.RejectVersion(ctx, "orders", 2, "", "x")
	wantErr(t, err, models.Invalid, "reject without reviewer")
	d, err = st.RejectVersion(ctx, "orders", 2, "carl", "step names are unclear")
	must(t, err, "reject")
	if d.Status != models.VersionRejected || d.Reviewer != "carl" || d.Comment != "step names are unclear" || d.ReviewedAt == nil {
		t.Errorf("rejected = %+v", d)
	}
	_, err = st.SubmitVersion(ctx, "orders", 2, "dana")
	wantErr(t, err, models.Conflict, "resubmit a rejected version", "is rejected")
	v3, err := st.SaveDraft(ctx, "orders", Def("orders", "Orders 3"), "dana")
	must(t, err, "v3 after rejection")
	if v3.Number != 3 {
		t.Errorf("a save after a rejection made version %d, want 3", v3.Number)
	}
}

func exerciseQuorumAndWithdraw(t *testing.T, st *store.Store) {
	ctx := context.Background()
	MustCreateTemplate(t, st, "orders", "dana")
	two := 2
	_, err := st.UpdateTemplateSettings(ctx, "orders", models.TemplateSettings{RequiredApprovals: &two}, "admin")
	must(t, err, "quorum 2")
	_, err = st.SubmitVersion(ctx, "orders", 1, "dana")
	must(t, err, "submit")

	d, err := st.ApproveVersion(ctx, "orders", 1, "carl", "one")
	must(t, err, "first approval")
	if d.Status != models.VersionInReview || len(d.Approvals) != 1 || d.RequiredApprovals != 2 || d.Reviewer != "" {
		t.Errorf("after one of two approvals: %+v", d)
	}
	_, err = st.ApproveVersion(ctx, "orders", 1, "carl", "again")
	wantErr(t, err, models.Conflict, "same approver twice", "carl already approved")

	inbox := func(user string) []string {
		t.Helper()
		items, err := st.ApprovalInbox(ctx, user)
		must(t, err, "inbox of "+user)
		var out []string
		for _, it := range items {
			out = append(out, fmt.Sprintf("%s/v%d %d/%d", it.Template, it.Version, it.Approvals, it.RequiredApprovals))
		}
		return out
	}
	if got := inbox("fred"); !slices.Equal(got, []string{"orders/v1 1/2"}) {
		t.Errorf("fred's inbox = %v", got)
	}
	if got := inbox("carl"); len(got) != 0 {
		t.Errorf("carl approved already, yet his inbox = %v", got)
	}
	if got := inbox("dana"); len(got) != 0 {
		t.Errorf("dana authored it, yet her inbox = %v", got)
	}
	_, err = st.ApprovalInbox(ctx, "")
	wantErr(t, err, models.Invalid, "inbox of nobody")

	// Withdrawing ends the round: carl's approval stops counting.
	d, err = st.WithdrawVersion(ctx, "orders", 1, "dana")
	must(t, err, "withdraw")
	if d.Status != models.VersionDraft || d.SubmittedAt != nil || len(d.Approvals) != 0 {
		t.Errorf("withdrawn = %+v", d)
	}
	if got := inbox("fred"); len(got) != 0 {
		t.Errorf("a withdrawn version is in fred's inbox: %v", got)
	}
	_, err = st.SaveDraft(ctx, "orders", Def("orders", "Orders fixed"), "dana")
	must(t, err, "edit the withdrawn draft")
	d, err = st.SubmitVersion(ctx, "orders", 1, "dana")
	must(t, err, "resubmit")
	if len(d.Approvals) != 0 {
		t.Errorf("a new round starts with approvals %+v", d.Approvals)
	}
	if got := inbox("carl"); !slices.Equal(got, []string{"orders/v1 0/2"}) {
		t.Errorf("carl's inbox after resubmission = %v", got)
	}
	_, err = st.ApproveVersion(ctx, "orders", 1, "carl", "")
	must(t, err, "carl approves round 2")
	d, err = st.ApproveVersion(ctx, "orders", 1, "fred", "second pair of eyes")
	must(t, err, "fred approves round 2")
	if d.Status != models.VersionApproved || d.Reviewer != "fred" || len(d.Approvals) != 2 || d.Approvals[0].Round != 2 {
		t.Errorf("after the quorum: %+v", d)
	}
	want := []models.VersionAction{
		models.ReviewCreated, models.ReviewSubmitted, models.ReviewApproval, models.ReviewWithdrawn, models.ReviewEdited,
		models.ReviewSubmitted, models.ReviewApproval, models.ReviewApproval, models.ReviewApproved,
	}
	if got := actionsOf(t, st, "orders", 1); !slices.Equal(got, want) {
		t.Errorf("trail = %v, want %v", got, want)
	}

	// Withdrawing when another draft is open would make two drafts.
	_, err = st.SaveDraft(ctx, "orders", Def("orders", "v2"), "dana")
	must(t, err, "v2")
	_, err = st.SubmitVersion(ctx, "orders", 2, "dana")
	must(t, err, "submit v2")
	_, err = st.SaveDraft(ctx, "orders", Def("orders", "v3"), "dana")
	must(t, err, "v3")
	_, err = st.WithdrawVersion(ctx, "orders", 2, "dana")
	wantErr(t, err, models.Conflict, "withdraw with a draft open", "version 3 is the template's open draft")
	_, err = st.WithdrawVersion(ctx, "orders", 2, "")
	wantErr(t, err, models.Invalid, "withdraw without actor")
	_, err = st.SubmitVersion(ctx, "orders", 2, "")
	wantErr(t, err, models.Invalid, "submit without actor")
}

// exerciseConcurrentApprovals races approvers: each approval counts once, the
// quorum is reached exactly once, and late approvers get a Conflict.
func exerciseConcurrentApprovals(t *testing.T, st *store.Store) {
	ctx := context.Background()
	for _, c := range []struct {
		key           string
		quorum, racer int
	}{
		{"pair", 2, 2},   // two approvers at once, quorum two: approved
		{"crowd", 2, 6},  // six at once, quorum two: two count, four are late
		{"triple", 3, 3}, // three at once, quorum three
	} {
		MustCreateTemplate(t, st, c.key, "dana")
		q := c.quorum
		_, err := st.UpdateTemplateSettings(ctx, c.key, models.TemplateSettings{RequiredApprovals: &q}, "admin")
		must(t, err, "quorum")
		_, err = st.SubmitVersion(ctx, c.key, 1, "dana")
		must(t, err, "submit")

		var wg sync.WaitGroup
		errs := make([]error, c.racer)
		for i := range c.racer {
			wg.Go(func() {
				_, errs[i] = st.ApproveVersion(ctx, c.key, 1, fmt.Sprintf("approver%d", i), "")
			})
		}
		wg.Wait()
		succeeded := 0
		for _, err := range errs {
			switch {
			case err == nil:
				succeeded++
			case models.IsCode(err, models.Conflict):
			default:
				t.Errorf("%s: unexpected error %v", c.key, err)
			}
		}
		d, err := st.VersionDetail(ctx, c.key, 1)
		must(t, err, "detail")
		if succeeded != c.quorum || d.Status != models.VersionApproved || len(d.Approvals) != c.quorum {
			t.Errorf("%s: %d approvals succeeded, status %s, %d recorded; want %d, approved, %d",
				c.key, succeeded, d.Status, len(d.Approvals), c.quorum, c.quorum)
		}
		approved := 0
		for _, a := range actionsOf(t, st, c.key, 1) {
			if a == models.ReviewApproved {
				approved++
			}
		}
		if approved != 1 {
			t.Errorf("%s: %d approved events, want 1", c.key, approved)
		}
	}
}
