package handlers

import (
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/compress"
)

// compressPages compresses the HTML pages and fragments (gzip or brotli,
// as the browser accepts, at the fastest level: a run page of 100 KB goes
// over the wire as ~15 KB). It leaves alone what must not be buffered or
// is better served otherwise: event streams (they are written as they
// happen: any request that accepts text/event-stream), WebSocket upgrades,
// the JSON API and webhooks (automation clients, on the hot path
// of a start), the profiler, and /static (compressed once at start-up,
// see serveStatic).
func compressPages() fiber.Handler {
	return compress.New(compress.Config{
		Level: compress.LevelBestSpeed,
		Next: func(c *fiber.Ctx) bool {
			p := c.Path()
			return strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, hooksPrefix) || strings.HasPrefix(p, "/static/") ||
				strings.HasPrefix(p, "/debug/") || strings.HasSuffix(p, "/events") || c.Method() != fiber.MethodGet ||
				strings.Contains(c.Get(fiber.HeaderAccept), "text/event-stream") || c.Get(fiber.HeaderUpgrade) != ""
		},
	})
}
