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
	}
}

func (s *server) home(c *fiber.Ctx) error {
	v := views.HomeView{UserName: principalOf(c).user.Name}
	for _, it := range s.waitingReviews(c) {
		v.Reviews = append(v.Reviews, inboxRow(it))
	}
	return s.page(c, http.StatusOK, "Home", "", views.Home(v))
}
