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
		{fiber.MethodGet, "/analytics", models.RoleViewer, s.emptySection(analyticsEmpty)},
	}
}

// The sections below exist before their features do; each says honestly
// that there is nothing yet and what will appear.
var (
	analyticsEmpty = views.EmptyView{
		Key:     "analytics",
		Heading: "Analytics",
		Message: "No data yet — success rates and durations will be charted here once runs have finished.",
	}
)

func (s *server) home(c *fiber.Ctx) error {
	v := views.HomeView{UserName: principalOf(c).user.Name}
	for _, it := range s.waitingReviews(c) {
		v.Reviews = append(v.Reviews, inboxRow(it))
	}
	return s.page(c, http.StatusOK, "Home", "", views.Home(v))
}

func (s *server) emptySection(v views.EmptyView) fiber.Handler {
	return func(c *fiber.Ctx) error {
		return s.page(c, http.StatusOK, v.Heading, v.Key, views.Empty(v))
	}
}
