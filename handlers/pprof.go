package handlers

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/pprof"

	"github.com/baton-run/baton/models"
)

// pprofRoutes serves Go's profiler (net/http/pprof) under /debug/pprof/ to
// admins only: a profile shows code paths, a heap dump can hold request
// data, and taking a CPU profile costs the server a little, so anonymous
// callers get 401 and signed-in non-admins 403, like any admin route. An
// admin's API token works, which is what `go tool pprof` needs (see
// docs/performance.md).
func (s *server) pprofRoutes() []route {
	h := pprof.New()
	return []route{
		{fiber.MethodGet, "/debug/pprof", models.RoleAdmin, h},
		{fiber.MethodGet, "/debug/pprof/*", models.RoleAdmin, h},
		{fiber.MethodPost, "/debug/pprof/symbol", models.RoleAdmin, h},
	}
}
