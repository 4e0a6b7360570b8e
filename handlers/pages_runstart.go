package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/views"
)

// startView fills the start form of template key (or the template chooser).
func (s *server) startView(c *fiber.Ctx, key string, version int) (views.StartView, error) {
	v := views.StartView{Template: key, CSRF: pageCSRF(c)}
	ts, err := s.templates()
	if err != nil {
		return v, err
	}
	u := principalOf(c).user
	if key == "" {
		page, err := ts.ListTemplates(c.UserContext(), models.TemplateFilter{Limit: 500})
		if err != nil {
			return v, err
		}
		for _, t := range page.Templates {
			if (t.LatestApprovedVersion > 0 && u.Can(models.RoleOperator)) || u.Can(models.RoleDesigner) {
				v.Templates = append(v.Templates, t.Key)
			}
		}
		if len(v.Templates) != 1 {
			return v, nil
		}
		// One template to choose from is no choice: show its form at once.
		key = v.Templates[0]
		v.Template = key
	}
	t, err := ts.Template(c.UserContext(), key)
	if err != nil {
		return v, err
	}
	v.TemplateName = t.Name
	if t.LatestApprovedVersion > 0 && u.Can(models.RoleOperator) {
		v.Versions = append(v.Versions, views.StartVersion{Number: t.LatestApprovedVersion, Label: fmt.Sprintf("v%d — latest approved", t.LatestApprovedVersion)})
	}
	if u.Can(models.RoleDesigner) && t.LatestVersion != t.LatestApprovedVersion {
		v.Versions = append(v.Versions, views.StartVersion{Number: t.LatestVersion, Label: fmt.Sprintf("v%d — test run of the %s version", t.LatestVersion, strings.ReplaceAll(string(t.LatestStatus), "_", " "))})
	}
	if len(v.Versions) == 0 {
		if t.LatestApprovedVersion == 0 {
			v.Error = "This template has no approved version yet, so it cannot run: submit a version for review and have it approved first."
		} else {
			v.Error = "Starting runs needs the operator role (designers may test-run versions that are not approved)."
		}
		return v, nil
	}
	v.Version = v.Versions[0].Number
	for _, o := range v.Versions {
		if o.Number == version {
			v.Version = version
		}
	}
	ver, err := ts.TemplateVersion(c.UserContext(), key, v.Version)
	if err != nil {
		return v, err
	}
	for _, name := range ver.Definition.InputNames() {
		d := ver.Definition.Inputs[name]
		in := views.StartInput{Name: name, Type: d.Type, Required: d.Required, Description: d.Description}
		if d.Default != nil {
			switch x := d.Default.(type) {
			case string:
				in.Value = x
			case bool:
				in.Checked = x
			default:
				if b, err := json.Marshal(x); err == nil {
					in.Value = string(b)
				}
			}
		}
		v.Inputs = append(v.Inputs, in)
	}
	return v, nil
}

func (s *server) startPage(c *fiber.Ctx) error {
	n, _ := strconv.Atoi(c.Query("version"))
	v, err := s.startView(c, c.Query("template"), n)
	if err != nil {
		return err
	}
	return s.page(c, http.StatusOK, "Start a run", "runs", views.StartRun(v))
}

// parseInput converts one form field to its declared type.
func parseInput(typ, raw string) (any, error) {
	switch typ {
	case models.TypeNumber:
		f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil {
			return nil, fmt.Errorf("must be a number, such as 3 or 2.5")
		}
		return f, nil
	case models.TypeInteger:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("must be a whole number, such as 3")
		}
		return n, nil
	case models.TypeObject, models.TypeArray:
		var x any
		if err := json.Unmarshal([]byte(raw), &x); err != nil {
			return nil, fmt.Errorf("must be JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return x, nil
	}
	return raw, nil
}

func (s *server) startSubmit(c *fiber.Ctx) error {
	rs, err := s.runs()
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(c.FormValue("version"))
	v, err := s.startView(c, c.FormValue("template"), n)
	if err != nil {
		return err
	}
	if v.Template == "" {
		return models.Problems("choose a template", []models.Problem{{Path: "template", Message: "is required"}})
	}
	if len(v.Versions) == 0 {
		status := http.StatusForbidden
		if t, err := s.deps.Templates.Template(c.UserContext(), v.Template); err == nil && t.LatestApprovedVersion == 0 {
			status = http.StatusConflict
		}
		return s.render(c, status, views.StartForm(v))
	}
	inputs := map[string]any{}
	bad := false
	for i := range v.Inputs {
		in := &v.Inputs[i]
		raw := c.FormValue("in." + in.Name)
		if in.Type == models.TypeBoolean {
			in.Checked = raw == "true"
			inputs[in.Name] = in.Checked
			continue
		}
		in.Value = raw
		if strings.TrimSpace(raw) == "" {
			if in.Required {
				in.Error = "is required"
				bad = true
			}
			continue
		}
		x, err := parseInput(in.Type, raw)
		if err != nil {
			in.Error = err.Error()
			bad = true
			continue
		}
		inputs[in.Name] = x
	}
	if bad {
		return s.refuseStartForm(c, v)
	}
	u := principalOf(c).user
	run, err := rs.Start(c.UserContext(), models.RunRequest{
		Template: v.Template, Version: v.Version, Inputs: inputs, Trigger: models.TriggerManual, StartedBy: u.Name,
		AllowApproved: u.Can(models.RoleOperator), AllowDraft: u.Can(models.RoleDesigner),
	})
	if err != nil {
		if code := models.ErrorCode(err); code == models.Invalid || code == models.Conflict || code == models.Forbidden || code == models.Busy {
			// Show the engine's findings next to their fields.
			v.Error = errMessage(err)
			for _, p := range models.ErrorDetails(err) {
				placed := false
				for i := range v.Inputs {
					if p.Path == "inputs."+v.Inputs[i].Name {
						v.Inputs[i].Error = p.Message
						placed = true
					}
				}
				if !placed {
					v.Error += "; " + p.String()
				}
			}
			return s.refuseStartForm(c, v)
		}
		return err
	}
	return s.redirectPage(c, "/runs/"+run.ID)
}

// refuseStartForm shows the start form again with what is wrong next to its
// fields. To htmx it answers 200 with X-Baton-Refused: 422: a 4xx answer to
// an XHR makes the browser log "Failed to load resource" and htmx log a
// response error, two console errors for an ordinary typing mistake; the
// form says what is wrong, and the header keeps the refusal visible to
// clients. A plain form post still gets 422.
func (s *server) refuseStartForm(c *fiber.Ctx, v views.StartView) error {
	if isHTMX(c) {
		c.Set("X-Baton-Refused", "422")
		return s.render(c, http.StatusOK, views.StartForm(v))
	}
	return s.render(c, http.StatusUnprocessableEntity, views.StartForm(v))
}
