package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/sergi/go-diff/diffmatchpatch"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/views"
)

func (s *server) approvalPageRoutes() []route {
	return []route{
		{fiber.MethodGet, "/approvals", models.RoleViewer, s.approvalsPage},
		{fiber.MethodGet, "/approvals/:key/:n", models.RoleViewer, s.reviewPage},
		{fiber.MethodPost, "/approvals/:key/:n/decide", models.RoleApprover, s.reviewDecide},
	}
}

func (s *server) approvalsPage(c *fiber.Ctx) error {
	ctx, u := c.UserContext(), principalOf(c).user
	v := views.ApprovalsView{IsApprover: u.Can(models.RoleApprover), CanManageUsers: u.Can(models.RoleAdmin)}
	ts, err := s.templates()
	if err != nil {
		v.Unavailable = errMessage(err)
		return s.page(c, http.StatusOK, "Approvals", "approvals", views.Approvals(v))
	}
	mine := map[string]bool{}
	if v.IsApprover {
		items, err := ts.ApprovalInbox(ctx, u.Name)
		if err != nil {
			return err
		}
		for _, it := range items {
			v.Inbox = append(v.Inbox, inboxRow(it))
			mine[fmt.Sprintf("%s/%d", it.Template, it.Version)] = true
		}
	}
	// Everything else in review, each with the reason it is not the
	// viewer's to decide: the four-eyes rule made visible.
	page, err := ts.ListTemplates(ctx, models.TemplateFilter{Status: models.VersionInReview, Limit: 500})
	if err != nil {
		return err
	}
	for _, t := range page.Templates {
		if mine[fmt.Sprintf("%s/%d", t.Key, t.LatestVersion)] {
			continue
		}
		d, err := ts.VersionDetail(ctx, t.Key, t.LatestVersion)
		if err != nil {
			return err
		}
		row := views.InboxRow{Template: t.Key, TemplateName: t.Name, Version: d.Number, Author: d.Author, Approvals: len(d.Approvals), Required: d.RequiredApprovals}
		if d.SubmittedAt != nil {
			row.Submitted = views.FormatTime(*d.SubmittedAt)
		}
		row.Note = whyNot(u, d)
		v.Others = append(v.Others, row)
	}
	return s.page(c, http.StatusOK, "Approvals", "approvals", views.Approvals(v))
}

func inboxRow(it models.InboxItem) views.InboxRow {
	return views.InboxRow{
		Template: it.Template, TemplateName: it.TemplateName, Version: it.Version, Author: it.Author,
		Submitted: views.FormatTime(it.SubmittedAt), Approvals: it.Approvals, Required: it.RequiredApprovals,
	}
}

// whyNot says why u may not approve or reject d, or "" when they may.
func whyNot(u *models.User, d *models.VersionDetail) string {
	switch {
	case d.Status != models.VersionInReview:
		return fmt.Sprintf("This version is %s: only versions in review can be approved or rejected.", strings.ReplaceAll(string(d.Status), "_", " "))
	case !u.Can(models.RoleApprover):
		return "Approving needs the approver role; ask an administrator to grant it."
	case d.Author == u.Name || slices.Contains(d.Editors, u.Name):
		return "You wrote or edited this version, so you cannot approve it: another approver must review it (four eyes)."
	case slices.ContainsFunc(d.Approvals, func(a models.Approval) bool { return a.Approver == u.Name }):
		return fmt.Sprintf("You have approved this version; it needs %d approvals from different people.", d.RequiredApprovals)
	}
	return ""
}

// reviewView builds the review page of version :n of :key.
func (s *server) reviewView(c *fiber.Ctx) (views.ReviewView, error) {
	ts, err := s.templates()
	if err != nil {
		return views.ReviewView{}, err
	}
	rs, err := s.runs()
	if err != nil {
		return views.ReviewView{}, err
	}
	n, err := versionNumber(c, "n")
	if err != nil {
		return views.ReviewView{}, err
	}
	ctx, key, u := c.UserContext(), c.Params("key"), principalOf(c).user
	t, err := ts.Template(ctx, key)
	if err != nil {
		return views.ReviewView{}, err
	}
	d, err := ts.VersionDetail(ctx, key, n)
	if err != nil {
		return views.ReviewView{}, err
	}
	v := views.ReviewView{
		Template: key, TemplateName: t.Name, Version: n, Status: string(d.Status), Author: d.Author, Editors: d.Editors,
		Required: d.RequiredApprovals, Reviewer: d.Reviewer, Comment: d.Comment, CSRF: pageCSRF(c),
		DesignerJS: s.assets.url("designer.js"), DesignerCSS: s.assets.url("designer.css"),
	}
	if d.SubmittedAt != nil {
		v.Submitted = views.FormatTime(*d.SubmittedAt)
	}
	for _, a := range d.Approvals {
		v.Approvals = append(v.Approvals, views.ApprovalRow{Approver: a.Approver, At: views.FormatTime(a.At), Comment: a.Comment})
	}
	v.Why = whyNot(u, d)
	v.CanReview = v.Why == ""
	v.CanManageUsers = u.Can(models.RoleAdmin)
	v.CanRun = u.Can(models.RoleOperator)
	// Compare against the latest approved version before this one (what
	// runs in production today), else the previous version.
	versions, err := ts.ListVersions(ctx, key)
	if err != nil {
		return v, err
	}
	for _, o := range versions {
		if o.Number < n && o.Status == models.VersionApproved && o.Number > v.Base {
			v.Base = o.Number
		}
	}
	if v.Base == 0 && n > 1 {
		v.Base = n - 1
	}
	var base models.Definition
	if v.Base > 0 {
		old, err := ts.TemplateVersion(ctx, key, v.Base)
		if err != nil {
			return v, err
		}
		base = old.Definition
	}
	diff := rs.Diff(base, d.Definition)
	if v.Base == 0 {
		diff = models.DefinitionDiff{}
		for _, st := range d.Definition.Steps {
			diff.StepsAdded = append(diff.StepsAdded, st.ID)
		}
	}
	v.Added, v.Removed, v.Fields = diff.StepsAdded, diff.StepsRemoved, diff.Fields
	for _, ch := range diff.StepsChanged {
		v.Changed = append(v.Changed, views.ChangedStep{ID: ch.ID, Fields: strings.Join(ch.Fields, ", ")})
	}
	// The canvas shows the new definition plus the removed steps, so what
	// went away is drawn too (in its own colour).
	merged := d.Definition
	merged.Steps = slices.Clone(merged.Steps)
	for _, st := range base.Steps {
		if slices.Contains(diff.StepsRemoved, st.ID) {
			merged.Steps = append(merged.Steps, st)
		}
	}
	b, err := json.Marshal(merged)
	if err != nil {
		return v, err
	}
	v.Graph = string(b)
	var before string
	if v.Base > 0 {
		before = canonicalText(base)
	}
	v.Lines = foldContext(lineDiff(before, canonicalText(d.Definition)), diffContext)
	if s.deps.Evidence != nil {
		v.Evidence = s.evidenceView(c, key, n)
	}
	return v, nil
}

// evidenceView is the review page's evidence section: the version replayed
// on the latest production runs (cached; computed here when the background
// worker has not done it yet). ?evidence=changes lists only the runs that
// change. A failure is shown in the section, never fails the page: the
// evidence informs the decision, it does not gate it.
func (s *server) evidenceView(c *fiber.Ctx, key string, n int) *views.EvidenceView {
	base := fmt.Sprintf("/approvals/%s/%d", key, n)
	e := &views.EvidenceView{AllURL: base, ChangesURL: base + "?evidence=changes", OnlyChanges: c.Query("evidence") == "changes"}
	ev, err := s.deps.Evidence.Evidence(c.UserContext(), key, n, 0)
	if err != nil {
		e.Error = "No evidence: " + errMessage(err)
		for _, p := range models.ErrorDetails(err) {
			e.Error += "; " + p.Path + ": " + p.Message
		}
		return e
	}
	e.Line, e.Total = ev.Summary.Line(), ev.Summary.Replayed
	var bases []string
	for _, b := range ev.BaseVersions {
		bases = append(bases, fmt.Sprintf("v%d", b))
	}
	e.BaseVersions = strings.Join(bases, ", ")
	for _, r := range ev.Runs {
		changes := r.Changes()
		if changes {
			e.Changing++
		}
		if e.OnlyChanges && !changes {
			continue
		}
		e.Runs = append(e.Runs, views.EvidenceRun{ID: r.RunID, Version: r.Version, PathChanged: r.PathChanged,
			Decisions: r.DecisionsChanged, WouldExecute: r.WouldExecute, Unknown: r.Unknown, Missing: r.MissingInputs,
			Was: r.Outcome.Was, Now: r.Outcome.Now, Changes: changes})
	}
	return e
}

// diffContext is how many unchanged lines the text diff shows around each change.
const diffContext = 3

// foldContext replaces runs of unchanged lines further than n lines from
// any change by one marker line, so the changes are what the reader sees.
func foldContext(lines []views.DiffLine, n int) []views.DiffLine {
	near := make([]bool, len(lines))
	for i, l := range lines {
		if l.Op == " " {
			continue
		}
		for j := max(i-n, 0); j <= min(i+n, len(lines)-1); j++ {
			near[j] = true
		}
	}
	var out []views.DiffLine
	for i := 0; i < len(lines); {
		if near[i] {
			out = append(out, lines[i])
			i++
			continue
		}
		j := i
		for j < len(lines) && !near[j] {
			j++
		}
		out = append(out, views.DiffLine{Op: "…", Text: fmt.Sprintf("%d unchanged lines", j-i)})
		i = j
	}
	return out
}

// canonicalText is a definition as indented JSON without step positions,
// which only say where a node is drawn: fields in the format's order, map
// keys sorted, so two versions line up field by field.
func canonicalText(d models.Definition) string {
	d.Steps = slices.Clone(d.Steps)
	for i := range d.Steps {
		d.Steps[i].Position = nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return ""
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return ""
	}
	return out.String()
}

// lineDiff is an exact line diff of a and b: diff-match-patch on lines
// (each distinct line mapped to one rune, then Myers' diff with a linear
// space bound), so a review of a definition of any size shows exactly the
// lines that changed, in time and memory near linear in its size.
func lineDiff(a, b string) []views.DiffLine {
	dmp := diffmatchpatch.New()
	dmp.DiffTimeout = 0 // exact: a review must never show a coarser diff for being large
	ra, rb, lines := dmp.DiffLinesToRunes(a, b)
	diffs := dmp.DiffCharsToLines(dmp.DiffMainRunes(ra, rb, false), lines)
	var out []views.DiffLine
	for _, d := range diffs {
		op := " "
		switch d.Type {
		case diffmatchpatch.DiffDelete:
			op = "-"
		case diffmatchpatch.DiffInsert:
			op = "+"
		}
		text := strings.TrimSuffix(d.Text, "\n")
		for _, l := range strings.Split(text, "\n") {
			out = append(out, views.DiffLine{Op: op, Text: l})
		}
	}
	return out
}

func (s *server) reviewPage(c *fiber.Ctx) error {
	v, err := s.reviewView(c)
	if err != nil {
		return err
	}
	return s.page(c, http.StatusOK, "Review "+v.TemplateName, "approvals", views.Review(v))
}

// reviewDecide approves or rejects from the review page; a refused
// decision is shown next to the comment.
func (s *server) reviewDecide(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	n, err := versionNumber(c, "n")
	if err != nil {
		return err
	}
	key, actor := c.Params("key"), principalOf(c).user.Name
	comment := strings.TrimSpace(c.FormValue("comment"))
	var derr error
	switch decision := c.FormValue("decision"); {
	case len(comment) > maxComment:
		derr = models.Problems("the comment is too long", []models.Problem{{Path: "comment", Message: "must have at most 4000 characters"}})
	case decision == "approve":
		_, derr = ts.ApproveVersion(c.UserContext(), key, n, actor, comment)
	case decision == "reject":
		if comment == "" {
			derr = models.Problems("a comment is required", []models.Problem{{Path: "comment", Message: "say why the version is rejected"}})
		} else {
			_, derr = ts.RejectVersion(c.UserContext(), key, n, actor, comment)
		}
	default:
		return models.Problems("invalid decision", []models.Problem{{Path: "decision", Message: `must be "approve" or "reject"`}})
	}
	if derr != nil {
		code := models.ErrorCode(derr)
		if code != models.Invalid && code != models.Conflict && code != models.Forbidden {
			return derr
		}
		v, err := s.reviewView(c)
		if err != nil {
			return err
		}
		// The decision may have been refused because the version changed
		// meanwhile; then the fresh reason (v.Why) says so instead.
		if v.CanReview {
			v.Error = errMessage(derr)
			for _, p := range models.ErrorDetails(derr) {
				v.Error += ": " + p.Message
			}
		}
		return s.render(c, http.StatusUnprocessableEntity, views.ReviewDecision(v))
	}
	return s.redirectPage(c, fmt.Sprintf("/approvals/%s/%d", key, n))
}
