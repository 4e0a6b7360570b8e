package handlers

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/views"
)

func (s *server) templatePageRoutes() []route {
	return []route{
		{fiber.MethodGet, "/templates", models.RoleViewer, s.templatesPage},
		{fiber.MethodPost, "/templates", models.RoleDesigner, s.createTemplatePage},
		{fiber.MethodGet, "/templates/:key", models.RoleViewer, s.templatePage},
		{fiber.MethodPost, "/templates/:key/versions/:n/submit", models.RoleDesigner, s.submitVersionPage},
		{fiber.MethodPost, "/templates/:key/versions/:n/withdraw", models.RoleDesigner, s.withdrawVersionPage},
	}
}

func (s *server) templatesPage(c *fiber.Ctx) error {
	if s.deps.Templates == nil {
		// A server without the template store (the HTTP layer alone) still
		// shows the section, saying why nothing can be listed or created.
		return s.page(c, http.StatusOK, "Templates", "templates", views.Templates(views.TemplatesView{Unavailable: true}))
	}
	ts, err := s.templates()
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	f := models.TemplateFilter{
		Search: strings.TrimSpace(c.Query("search")), Status: models.VersionStatus(c.Query("status")),
		Tag: c.Query("tag"), After: c.Query("after"),
	}
	switch f.Status {
	case "", models.VersionDraft, models.VersionInReview, models.VersionApproved, models.VersionRejected:
	default:
		return models.Problems("invalid filter", []models.Problem{{Path: "status", Message: "must be draft, in_review, approved or rejected"}})
	}
	page, err := ts.ListTemplates(ctx, f)
	if err != nil {
		return err
	}
	// The tag filter offers every tag in use; one unfiltered page of the
	// largest size is enough for the tag list of any realistic installation.
	all, err := ts.ListTemplates(ctx, models.TemplateFilter{Limit: 500})
	if err != nil {
		return err
	}
	v := views.TemplatesView{
		Search: f.Search, Status: string(f.Status), Tag: f.Tag, Next: page.Next,
		CanCreate: principalOf(c).user.Can(models.RoleDesigner),
		Examples:  s.exampleOptions(),
		Filtered:  f.Search != "" || f.Status != "" || f.Tag != "" || f.After != "",
	}
	for _, t := range all.Templates {
		for _, tag := range t.Tags {
			if !slices.Contains(v.Tags, tag) {
				v.Tags = append(v.Tags, tag)
			}
		}
	}
	slices.Sort(v.Tags)
	for _, t := range page.Templates {
		v.Rows = append(v.Rows, views.TemplateRow{
			Key: t.Key, Name: t.Name, Description: t.Description, Tags: t.Tags,
			LatestVersion: t.LatestVersion, LatestStatus: string(t.LatestStatus),
			LatestApproved: t.LatestApprovedVersion, UpdatedAt: views.FormatTime(t.UpdatedAt),
		})
	}
	return s.page(c, http.StatusOK, "Templates", "templates", views.Templates(v))
}

// exampleOptions lists the embedded examples, titled by their first comment.
func (s *server) exampleOptions() []views.ExampleOption {
	if s.deps.Examples == nil {
		return nil
	}
	names, err := fs.Glob(s.deps.Examples, "*.yaml")
	if err != nil {
		return nil
	}
	out := make([]views.ExampleOption, 0, len(names))
	for _, name := range names {
		opt := views.ExampleOption{File: name, Title: name}
		if body, err := fs.ReadFile(s.deps.Examples, name); err == nil {
			line, _, _ := bufio.NewReader(bytes.NewReader(body)).ReadLine()
			if t, ok := strings.CutPrefix(string(line), "#"); ok && strings.TrimSpace(t) != "" {
				opt.Title = strings.TrimSpace(t)
			}
		}
		out = append(out, opt)
	}
	return out
}

// blankDefinition is what "a blank canvas" starts with: one step, because a
// definition without steps is not valid and so cannot be stored.
func blankDefinition(key, name string) []byte {
	def := map[string]any{
		"id": key, "name": name,
		"steps": []any{map[string]any{
			"id": "start", "type": "command",
			"action":   map[string]any{"kind": "log", "message": "Started {{ run.template }}"},
			"position": map[string]any{"x": 80, "y": 120},
		}},
	}
	b, _ := jsonMarshal(def)
	return b
}

func (s *server) createTemplatePage(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	rs, err := s.runs()
	if err != nil {
		return err
	}
	key := strings.TrimSpace(c.FormValue("key"))
	name := strings.TrimSpace(c.FormValue("name"))
	var body []byte
	ct := "application/yaml" // YAML is a superset of JSON
	var field []models.Problem
	switch from := c.FormValue("from"); from {
	case "blank", "":
		if key == "" {
			field = append(field, models.Problem{Path: "key", Message: "is required: lower-case letters, digits and dashes, e.g. order-fulfilment"})
		}
		if name == "" {
			name = key
		}
		body, ct = blankDefinition(key, name), fiber.MIMEApplicationJSON
	case "example":
		file := c.FormValue("example")
		if s.deps.Examples == nil || file == "" || path.Base(file) != file {
			field = append(field, models.Problem{Path: "example", Message: "choose one of the examples"})
			break
		}
		raw, err := fs.ReadFile(s.deps.Examples, file)
		if err != nil {
			field = append(field, models.Problem{Path: "example", Message: "no such example: " + file})
			break
		}
		if key == "" {
			field = append(field, models.Problem{Path: "key", Message: "is required: the example becomes a new template with this key"})
			break
		}
		body = renameDefinition(raw, key, name)
	case "import":
		src := strings.TrimSpace(c.FormValue("source"))
		if src == "" {
			field = append(field, models.Problem{Path: "source", Message: "paste a YAML or JSON definition to import"})
			break
		}
		body = []byte(src)
		if strings.HasPrefix(src, "{") {
			ct = fiber.MIMEApplicationJSON
		}
	default:
		field = append(field, models.Problem{Path: "from", Message: "must be blank, example or import"})
	}
	if len(field) > 0 {
		return s.createErrors(c, "The template was not created.", field)
	}
	def, err := rs.ParseDefinition(body, ct)
	if err != nil {
		return s.createErrors(c, "The definition has problems; fix them and try again.", problemsOf(err))
	}
	if _, _, err := ts.CreateTemplate(c.UserContext(), def, principalOf(c).user.Name); err != nil {
		if models.IsCode(err, models.Conflict) {
			return s.createErrors(c, "The template was not created.", []models.Problem{{Path: "key", Message: "a template with the key " + def.ID + " exists already; choose another"}})
		}
		return err
	}
	c.Set("HX-Redirect", "/templates/"+def.ID+"/design")
	if isHTMX(c) {
		return c.SendStatus(http.StatusCreated)
	}
	return c.Redirect("/templates/"+def.ID+"/design", http.StatusSeeOther)
}

// renameDefinition sets an example's id (and name) to the new template's:
// the examples are YAML with `id:` and `name:` at the top level.
func renameDefinition(raw []byte, key, name string) []byte {
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id:"):
			line = "id: " + quoteYAML(key)
		case strings.HasPrefix(line, "name:") && name != "":
			line = "name: " + quoteYAML(name)
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// quoteYAML writes s as a double-quoted YAML scalar (JSON string syntax is
// valid YAML), so any user text stays one value.
func quoteYAML(s string) string {
	b, _ := jsonMarshal(s)
	return string(b)
}

// problemsOf lists an error's problems, or the error itself as one problem.
func problemsOf(err error) []models.Problem {
	if d := models.ErrorDetails(err); len(d) > 0 {
		return d
	}
	var e *models.Error
	if errors.As(err, &e) {
		return []models.Problem{{Message: e.Message}}
	}
	return []models.Problem{{Message: err.Error()}}
}

// createErrors shows why a create failed inside the create form, next to
// the fields, instead of in the page's notice area.
func (s *server) createErrors(c *fiber.Ctx, msg string, ps []models.Problem) error {
	ds := make([]views.Detail, len(ps))
	for i, p := range ps {
		ds[i] = views.Detail{Path: p.Path, Message: p.Message}
	}
	if !isHTMX(c) {
		return models.Problems(msg, ps)
	}
	c.Set("HX-Retarget", "#create-errors")
	c.Set("HX-Reswap", "innerHTML")
	return s.render(c, http.StatusUnprocessableEntity, views.CreateErrors(msg, ds))
}

func (s *server) templatePage(c *fiber.Ctx) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	key := c.Params("key")
	sum, err := ts.Template(ctx, key)
	if err != nil {
		return err
	}
	vs, err := ts.ListVersions(ctx, key)
	if err != nil {
		return err
	}
	evs, err := ts.TemplateEvents(ctx, key, 0, 100)
	if err != nil {
		return err
	}
	u := principalOf(c).user
	designer := u.Can(models.RoleDesigner)
	v := views.TemplateView{
		Key: sum.Key, Name: sum.Name, Description: sum.Description, Tags: sum.Tags,
		RequiredApprovals: max(sum.RequiredApprovals, 1), CreatedBy: sum.CreatedBy,
		LatestApproved: sum.LatestApprovedVersion, CanDesign: designer,
		CanRun: u.Can(models.RoleOperator),
	}
	for _, ver := range vs {
		r := views.VersionRow{
			Number: ver.Number, Status: string(ver.Status), Author: ver.Author,
			CreatedAt: views.FormatTime(ver.CreatedAt), UpdatedAt: views.FormatTime(ver.UpdatedAt),
			Reviewer: ver.Reviewer, Comment: ver.Comment,
			CanSubmit:   designer && ver.Status == models.VersionDraft,
			CanWithdraw: designer && ver.Status == models.VersionInReview,
		}
		if ver.SubmittedAt != nil {
			r.Submitted = views.FormatTime(*ver.SubmittedAt)
		}
		if ver.ReviewedAt != nil {
			r.Reviewed = views.FormatTime(*ver.ReviewedAt)
		}
		v.Versions = append(v.Versions, r)
	}
	for _, e := range evs {
		// The designer saves as the user types: a run of edits of one
		// version by one person is one line, with its count.
		if n := len(v.Trail); n > 0 && e.Action == models.ReviewEdited {
			if last := &v.Trail[n-1]; last.Action == "edited" && last.Actor == e.Actor && last.Version == e.Version {
				last.Saves = max(last.Saves, 1) + 1
				continue
			}
		}
		v.Trail = append(v.Trail, views.TrailRow{
			Version: e.Version, Action: trailAction(e), Actor: e.Actor, At: views.FormatTime(e.At), Comment: e.Comment,
		})
	}
	return s.page(c, http.StatusOK, sum.Name, "templates", views.Template(v))
}

// trailAction is a review action as a sentence fragment.
func trailAction(e models.VersionEvent) string {
	switch e.Action {
	case models.ReviewCreated:
		return "created"
	case models.ReviewEdited:
		return "edited"
	case models.ReviewRestored:
		return "restored into"
	case models.ReviewSubmitted:
		return "submitted for review"
	case models.ReviewApproval:
		return "approved (quorum not reached yet)"
	case models.ReviewApproved:
		return "approved"
	case models.ReviewRejected:
		return "rejected"
	case models.ReviewWithdrawn:
		return "withdrew"
	}
	return string(e.Action)
}

func (s *server) submitVersionPage(c *fiber.Ctx) error {
	return s.reviewAction(c, func(ts TemplateStore, key string, n int, actor string) error {
		_, err := ts.SubmitVersion(c.UserContext(), key, n, actor)
		if err == nil {
			s.notifySubmitted(key, n, actor)
		}
		return err
	})
}

func (s *server) withdrawVersionPage(c *fiber.Ctx) error {
	return s.reviewAction(c, func(ts TemplateStore, key string, n int, actor string) error {
		_, err := ts.WithdrawVersion(c.UserContext(), key, n, actor)
		return err
	})
}

// reviewAction runs one review step from a page button, then reloads the
// template's page so every row and action reflects the new state.
func (s *server) reviewAction(c *fiber.Ctx, do func(TemplateStore, string, int, string) error) error {
	ts, err := s.templates()
	if err != nil {
		return err
	}
	n, err := versionNumber(c, "n")
	if err != nil {
		return err
	}
	key := c.Params("key")
	if err := do(ts, key, n, principalOf(c).user.Name); err != nil {
		return err
	}
	target := "/templates/" + key
	if isHTMX(c) {
		c.Set("HX-Redirect", target)
		return c.SendStatus(http.StatusNoContent)
	}
	return c.Redirect(target, http.StatusSeeOther)
}
