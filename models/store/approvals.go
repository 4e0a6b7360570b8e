package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/baton-run/baton/models"
)

// The review transitions: draft → in_review (submit), in_review → approved
// once the template's quorum of different approvers is reached, in_review →
// rejected, in_review → draft (withdraw). Each runs in one transaction that
// holds the template's lock, so two approvers at once are counted one after
// the other, and each writes the review trail (version_events) and the audit
// log. Role checks (designer, approver) are the caller's; the store enforces
// the states and the four-eyes rule, which hold whoever calls.

// reviewStep is one transition, run with the template locked and version n
// read; review then returns the version as the transition left it.
type reviewStep func(tx *gorm.DB, tpl *templateRow, v *reviewVersionRow, at time.Time) error

func (s *Store) review(ctx context.Context, key string, n int, step reviewStep) (*models.VersionDetail, error) {
	var out *models.VersionDetail
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		tpl, err := lockTemplate(tx, key)
		if err != nil {
			return err
		}
		v, err := versionRow(tx, &tpl, n)
		if err != nil {
			return err
		}
		if err := step(tx, &tpl, v, now()); err != nil {
			return err
		}
		out, err = versionDetailTx(tx, &tpl, v.Number)
		return err
	})
	return out, err
}

// versionDetailTx reads version n of tpl as it stands inside tx.
func versionDetailTx(tx *gorm.DB, tpl *templateRow, n int) (*models.VersionDetail, error) {
	v, err := versionRow(tx, tpl, n)
	if err != nil {
		return nil, err
	}
	editors, err := versionEditors(tx, v.ID)
	if err != nil {
		return nil, err
	}
	approvals, err := roundApprovals(tx, v)
	if err != nil {
		return nil, err
	}
	d := &models.VersionDetail{
		Version: *v.model(tpl.Key), Editors: editors, Approvals: make([]models.Approval, len(approvals)),
		RequiredApprovals: quorum(tpl.RequiredApprovals),
	}
	for i, a := range approvals {
		d.Approvals[i] = models.Approval{Approver: a.Approver, At: a.At.UTC(), Comment: a.Comment, Round: a.Round}
	}
	return d, nil
}

func roundApprovals(db *gorm.DB, v *reviewVersionRow) ([]versionApprovalRow, error) {
	var rows []versionApprovalRow
	// A draft is not under review: a withdrawal ended its round.
	if v.ReviewRound == 0 || v.Status == models.VersionDraft {
		return rows, nil
	}
	if err := db.Where("version_id = ? AND round = ?", v.ID, v.ReviewRound).Order("id").Find(&rows).Error; err != nil {
		return nil, mapErr(err, "approvals")
	}
	return rows, nil
}

func target(key string, n int) string { return fmt.Sprintf("template:%s/v%d", key, n) }

// wrongState is the Conflict of a transition from a status that does not
// allow it.
func wrongState(tpl *templateRow, v *reviewVersionRow, verb, want string) error {
	return models.Errorf(models.Conflict, "version %d of template %q is %s; only %s version can be %s",
		v.Number, tpl.Key, v.Status, want, verb)
}

// setStatus moves v from the status it was read in to status, with the
// other columns in set; the WHERE on the old status is a second guard
// besides the template lock.
func setStatus(tx *gorm.DB, tpl *templateRow, v *reviewVersionRow, status models.VersionStatus, set map[string]any) error {
	set["status"] = status
	set["updated_at"] = now()
	res := tx.Model(&reviewVersionRow{}).Where("id = ? AND status = ?", v.ID, v.Status).Updates(set)
	if res.Error != nil {
		return mapErr(res.Error, fmt.Sprintf("version %d of template %q", v.Number, tpl.Key))
	}
	if res.RowsAffected != 1 {
		return models.Errorf(models.Conflict, "version %d of template %q changed meanwhile; reload it", v.Number, tpl.Key)
	}
	return nil
}

// SubmitVersion moves version n from draft to in_review, submitted by
// actor, and starts a new review round. It returns NotFound for an unknown
// template or version, Conflict when the version is not a draft, and Invalid
// for an empty actor.
func (s *Store) SubmitVersion(ctx context.Context, key string, n int, actor string) (*models.VersionDetail, error) {
	if err := checkActor(actor, "submitter"); err != nil {
		return nil, err
	}
	return s.review(ctx, key, n, func(tx *gorm.DB, tpl *templateRow, v *reviewVersionRow, at time.Time) error {
		if v.Status != models.VersionDraft {
			return wrongState(tpl, v, "submitted", "a draft")
		}
		round := v.ReviewRound + 1
		err := setStatus(tx, tpl, v, models.VersionInReview, map[string]any{
			"submitted_at": at, "review_round": round, "reviewer": "", "reviewed_at": nil, "comment": "",
		})
		if err != nil {
			return err
		}
		if err := addEvent(tx, v.ID, models.ReviewSubmitted, actor, at, "", round, 0); err != nil {
			return err
		}
		return auditTx(tx, actor, models.AuditVersionSubmitted, target(tpl.Key, v.Number), at, map[string]any{"round": round})
	})
}

// fourEyes refuses a review by someone who authored or edited v: nobody
// reviews their own work.
func fourEyes(tx *gorm.DB, tpl *templateRow, v *reviewVersionRow, user, verb, hint string) error {
	editors, err := versionEditors(tx, v.ID)
	if err != nil {
		return err
	}
	var why string
	switch {
	case user == v.Author:
		why = "authored"
	case slices.Contains(editors, user):
		why = "edited"
	default:
		return nil
	}
	return models.Errorf(models.Forbidden, "%s may not %s version %d of template %q because they %s it: "+
		"a version is reviewed by someone who did not write it (four eyes)%s", user, verb, v.Number, tpl.Key, why, hint)
}

// ApproveVersion records approver's approval of version n, which must be in
// review. The version becomes approved when the approvals of its current
// submission reach the template's required approvals, each from a different
// approver; the returned detail shows the approvals so far. It returns
// Forbidden when approver authored or edited the version (four eyes),
// Conflict when the version is not in review or approver already approved
// this submission, NotFound for an unknown template or version, and Invalid
// for an empty approver.
func (s *Store) ApproveVersion(ctx context.Context, key string, n int, approver, comment string) (*models.VersionDetail, error) {
	if err := checkActor(approver, "approver"); err != nil {
		return nil, err
	}
	comment = strings.TrimSpace(comment)
	return s.review(ctx, key, n, func(tx *gorm.DB, tpl *templateRow, v *reviewVersionRow, at time.Time) error {
		if v.Status != models.VersionInReview {
			return wrongState(tpl, v, "approved", "a version in review")
		}
		if err := fourEyes(tx, tpl, v, approver, "approve", ""); err != nil {
			return err
		}
		approvals, err := roundApprovals(tx, v)
		if err != nil {
			return err
		}
		for _, a := range approvals {
			if a.Approver == approver {
				return models.Errorf(models.Conflict, "%s already approved version %d of template %q; it needs another approver", approver, v.Number, tpl.Key)
			}
		}
		err = tx.Create(&versionApprovalRow{VersionID: v.ID, Round: v.ReviewRound, Approver: approver, At: at, Comment: comment}).Error
		if err != nil {
			return mapErr(err, fmt.Sprintf("%s's approval of version %d of template %q", approver, v.Number, tpl.Key))
		}
		if err := addEvent(tx, v.ID, models.ReviewApproval, approver, at, comment, v.ReviewRound, 0); err != nil {
			return err
		}
		count, need := len(approvals)+1, quorum(tpl.RequiredApprovals)
		detail := map[string]any{"round": v.ReviewRound, "approvals": count, "required": need}
		if count < need {
			return auditTx(tx, approver, models.AuditVersionApproval, target(tpl.Key, v.Number), at, detail)
		}
		err = setStatus(tx, tpl, v, models.VersionApproved, map[string]any{
			"reviewer": approver, "reviewed_at": at, "comment": comment,
		})
		if err != nil {
			return err
		}
		if err := addEvent(tx, v.ID, models.ReviewApproved, approver, at, comment, v.ReviewRound, 0); err != nil {
			return err
		}
		return auditTx(tx, approver, models.AuditVersionApproved, target(tpl.Key, v.Number), at, detail)
	})
}

// RejectVersion moves version n from in_review to rejected, which is final:
// the designer saves a new draft. A comment saying why is required. It
// returns Invalid for an empty comment or reviewer, Forbidden when reviewer
// authored or edited the version (they withdraw it instead), Conflict when
// it is not in review, and NotFound for an unknown template or version.
func (s *Store) RejectVersion(ctx context.Context, key string, n int, reviewer, comment string) (*models.VersionDetail, error) {
	if err := checkActor(reviewer, "reviewer"); err != nil {
		return nil, err
	}
	comment = strings.TrimSpace(comment)
	if comment == "" {
		return nil, &models.Error{Code: models.Invalid, Message: "a rejection needs a comment that tells the author what to change",
			Details: []models.Problem{{Path: "comment", Message: "required"}}}
	}
	return s.review(ctx, key, n, func(tx *gorm.DB, tpl *templateRow, v *reviewVersionRow, at time.Time) error {
		if v.Status != models.VersionInReview {
			return wrongState(tpl, v, "rejected", "a version in review")
		}
		if err := fourEyes(tx, tpl, v, reviewer, "reject", "; to take back a submission, withdraw it"); err != nil {
			return err
		}
		err := setStatus(tx, tpl, v, models.VersionRejected, map[string]any{
			"reviewer": reviewer, "reviewed_at": at, "comment": comment,
		})
		if err != nil {
			return err
		}
		if err := addEvent(tx, v.ID, models.ReviewRejected, reviewer, at, comment, v.ReviewRound, 0); err != nil {
			return err
		}
		return auditTx(tx, reviewer, models.AuditVersionRejected, target(tpl.Key, v.Number), at,
			map[string]any{"round": v.ReviewRound, "comment": comment})
	})
}

// WithdrawVersion takes version n back from review: in_review → draft. The
// approvals given so far stop counting (a new submission starts a new
// round). It returns Conflict when the version is not in review or the
// template already has another open draft, NotFound for an unknown template
// or version, and Invalid for an empty actor.
func (s *Store) WithdrawVersion(ctx context.Context, key string, n int, actor string) (*models.VersionDetail, error) {
	if err := checkActor(actor, "user"); err != nil {
		return nil, err
	}
	return s.review(ctx, key, n, func(tx *gorm.DB, tpl *templateRow, v *reviewVersionRow, at time.Time) error {
		if v.Status != models.VersionInReview {
			return wrongState(tpl, v, "withdrawn", "a version in review")
		}
		var drafts []int
		if err := tx.Model(&reviewVersionRow{}).Where("template_id = ? AND status = ?", tpl.ID, models.VersionDraft).
			Pluck("number", &drafts).Error; err != nil {
			return mapErr(err, fmt.Sprintf("draft of template %q", tpl.Key))
		}
		if len(drafts) > 0 {
			return models.Errorf(models.Conflict, "version %d of template %q cannot go back to draft: version %d is the template's open draft already",
				v.Number, tpl.Key, drafts[0])
		}
		if err := setStatus(tx, tpl, v, models.VersionDraft, map[string]any{"submitted_at": nil}); err != nil {
			return err
		}
		if err := addEvent(tx, v.ID, models.ReviewWithdrawn, actor, at, "", v.ReviewRound, 0); err != nil {
			return err
		}
		return auditTx(tx, actor, models.AuditVersionWithdrawn, target(tpl.Key, v.Number), at, map[string]any{"round": v.ReviewRound})
	})
}

// inboxRow is one row of the ApprovalInbox query.
type inboxRow struct {
	Key               string
	Name              string
	RequiredApprovals int
	Number            int
	Author            string
	SubmittedAt       time.Time
	Approvals         int
}

// ApprovalInbox lists the versions in review that user may approve and has
// not approved in their current submission, oldest submission first: the
// in-app notification of an approver. The four-eyes rule leaves out what
// user authored or edited. Whether user holds the approver role is the
// caller's check. It returns Invalid for an empty user.
func (s *Store) ApprovalInbox(ctx context.Context, user string) ([]models.InboxItem, error) {
	if err := checkActor(user, "approver"); err != nil {
		return nil, err
	}
	var rows []inboxRow
	err := s.read.WithContext(ctx).Table("template_versions AS v").
		Select(`t.key, t.name, t.required_approvals, v.number, v.author, v.submitted_at,
			(SELECT COUNT(*) FROM version_approvals a WHERE a.version_id = v.id AND a.round = v.review_round) AS approvals`).
		Joins("JOIN templates t ON t.id = v.template_id").
		Where("v.status = ?", models.VersionInReview).
		Where("v.author <> ?", user).
		Where("NOT EXISTS (SELECT 1 FROM version_editors e WHERE e.version_id = v.id AND e.user_name = ?)", user).
		Where("NOT EXISTS (SELECT 1 FROM version_approvals a WHERE a.version_id = v.id AND a.round = v.review_round AND a.approver = ?)", user).
		Order("v.submitted_at, v.id").Scan(&rows).Error
	if err != nil {
		return nil, mapErr(err, "approval inbox")
	}
	out := make([]models.InboxItem, len(rows))
	for i, r := range rows {
		out[i] = models.InboxItem{
			Template: r.Key, TemplateName: r.Name, Version: r.Number, Author: r.Author,
			SubmittedAt: r.SubmittedAt.UTC(), Approvals: r.Approvals, RequiredApprovals: quorum(r.RequiredApprovals),
		}
	}
	return out, nil
}
