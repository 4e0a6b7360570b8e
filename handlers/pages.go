package handlers

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/views"
)

func (s *server) pageRoutes() []route {
	return []route{
		{fiber.MethodGet, "/", models.RoleViewer, s.home},
		{fiber.MethodGet, "/templates", models.RoleViewer, s.emptySection(templatesEmpty)},
		{fiber.MethodGet, "/runs", models.RoleViewer, s.emptySection(runsEmpty)},
		{fiber.MethodGet, "/approvals", models.RoleViewer, s.emptySection(approvalsEmpty)},
		{fiber.MethodGet, "/analytics", models.RoleViewer, s.emptySection(analyticsEmpty)},
	}
}

// The sections below exist before their features do; each says honestly
// that there is nothing yet and what will appear.
var (
	templatesEmpty = views.EmptyView{
		Key:     "templates",
		Heading: "Templates",
		Message: "No templates yet — workflow templates you create will be listed here.",
		Hint:    "Until the designer arrives, check a definition with `baton validate FILE` or POST /api/v1/validate.",
	}
	runsEmpty = views.EmptyView{
		Key:     "runs",
		Heading: "Runs",
		Message: "No runs yet — runs of approved templates will appear here with their live progress.",
		Hint:    "A definition can already be run from a terminal with `baton run FILE`.",
	}
	approvalsEmpty = views.EmptyView{
		Key:     "approvals",
		Heading: "Approvals",
		Message: "Nothing to review — template versions submitted for review will wait here for an approver.",
	}
	analyticsEmpty = views.EmptyView{
		Key:     "analytics",
		Heading: "Analytics",
		Message: "No data yet — success rates and durations will be charted here once runs have finished.",
	}
)

func (s *server) home(c *fiber.Ctx) error {
	return s.page(c, http.StatusOK, "Home", "", views.Home(views.HomeView{UserName: principalOf(c).user.Name}))
}

func (s *server) emptySection(v views.EmptyView) fiber.Handler {
	return func(c *fiber.Ctx) error {
		return s.page(c, http.StatusOK, v.Heading, v.Key, views.Empty(v))
	}
}
