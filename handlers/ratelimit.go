package handlers

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/baton-run/baton/models"
)

// rateLimiter is a token bucket per API token, in memory: each instance of
// Baton limits on its own, which bounds what one script can do to the
// others without a shared counter on every request.
type rateLimiter struct {
	rate  float64 // tokens per second; ≤ 0: no limit
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[int64]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newRateLimiter(rate float64, burst int) *rateLimiter {
	return &rateLimiter{rate: rate, burst: float64(burst), now: time.Now, buckets: map[int64]*bucket{}}
}

// idleAfter is when a full bucket is forgotten: it would be full again anyway.
const idleAfter = 10 * time.Minute

// allow takes one request from key's bucket; when it is empty it returns
// false and how long until a request would be allowed.
func (l *rateLimiter) allow(key int64) (bool, time.Duration) {
	if l.rate <= 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > idleAfter {
		for k, b := range l.buckets {
			if now.Sub(b.at) > idleAfter {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	if el := now.Sub(b.at).Seconds(); el > 0 {
		b.tokens = math.Min(l.burst, b.tokens+el*l.rate)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}

// rateLimit refuses requests made with an API token faster than
// Deps.RateLimit with 429 and Retry-After (whole seconds, at least 1).
// Browser sessions are people clicking, and are not limited.
func (s *server) rateLimit(c *fiber.Ctx) error {
	p := principalOf(c)
	if p == nil || p.token == nil {
		return c.Next()
	}
	ok, wait := s.limiter.allow(p.token.ID)
	if !ok {
		secs := max(int(math.Ceil(wait.Seconds())), 1)
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
		return models.Errorf(models.RateLimited, "too many requests with this token; try again in %d s", secs)
	}
	return c.Next()
}
