package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Both routes need no authentication: load balancers and Prometheus call
// them. /metrics shows request counts and timings per route, nothing
// per user; `baton serve` binds to localhost by default, and a deployment
// that exposes the port should block /metrics at its proxy.
func (s *server) healthRoutes() []route {
	return []route{
		{fiber.MethodGet, "/healthz", anyone, s.healthz},
		{fiber.MethodGet, "/metrics", anyone, adaptor.HTTPHandler(promhttp.HandlerFor(s.deps.Registry, promhttp.HandlerOpts{
			ErrorLog: slogPrinter{s.log},
		}))},
	}
}

// healthTimeout bounds the database check of GET /healthz.
const healthTimeout = 5 * time.Second

// health is the body of GET /healthz.
type health struct {
	Status   string `json:"status"`
	Database string `json:"database"`
	// Instance is this instance's id, owned runs and lease (Deps.Instance).
	Instance any `json:"instance,omitempty"`
}

func (s *server) healthz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	// A health check that hangs is useless to a load balancer: answer within
	// healthTimeout whatever the database does.
	ctx, cancel := context.WithTimeout(c.UserContext(), healthTimeout)
	defer cancel()
	var inst any
	if s.deps.Instance != nil {
		inst = s.deps.Instance()
	}
	if err := s.store.Ping(ctx); err != nil {
		s.logOf(c).Error("health check: database", "err", err)
		return c.Status(http.StatusServiceUnavailable).JSON(health{Status: "unavailable", Database: "unavailable", Instance: inst})
	}
	return c.JSON(health{Status: "ok", Database: "ok", Instance: inst})
}
