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
// others without a shared counter on every request. Limiting is opt-in: a
// token limits at its own rate (models.APIToken.RateLimit) or, when it sets
// none, at the server's default (Deps.RateLimit), which is off by default,
// because an automation API should meet the engine's limits first.
type rateLimiter struct {
	rate  float64 // the default, for tokens that set none; ≤ 0: no limit
	burst int     // the default's burst; ≤ 0: five times the rate
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
	return &rateLimiter{rate: rate, burst: burst, now: time.Now, buckets: map[int64]*bucket{}}
}

// limitOf returns a token's rate and burst: its own, else the default.
func (l *rateLimiter) limitOf(tok *models.APIToken) (rate, burst float64) {
	if tok.RateLimit != nil {
		rate = *tok.RateLimit
		return rate, max(math.Floor(5*rate), 1)
	}
	if l.burst > 0 {
		return l.rate, float64(l.burst)
	}
	return l.rate, max(math.Floor(5*l.rate), 1)
}

// idleAfter is when a full bucket is forgotten: it would be full again anyway.
const idleAfter = 10 * time.Minute

// allow takes one request from key's bucket, which refills at rate per
// second up to burst; when it is empty it returns false and how long until
// a request would be allowed. A rate ≤ 0 allows everything.
func (l *rateLimiter) allow(key int64, rate, burst float64) (bool, time.Duration) {
	if rate <= 0 {
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
		b = &bucket{tokens: burst, at: now}
		l.buckets[key] = b
	}
	if el := now.Sub(b.at).Seconds(); el > 0 {
		b.tokens = math.Min(burst, b.tokens+el*rate)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / rate * float64(time.Second))
	return false, wait
}

// rateLimit refuses requests made with an API token faster than the
// token's limit (its own, else Deps.RateLimit) with 429 and Retry-After
// (whole seconds, at least 1). Browser sessions are people clicking, and
// are not limited; logins have their own throttle (failures per user and
// address, see login).
func (s *server) rateLimit(c *fiber.Ctx) error {
	p := principalOf(c)
	if p == nil || p.token == nil {
		return c.Next()
	}
	rate, burst := s.limiter.limitOf(p.token)
	ok, wait := s.limiter.allow(p.token.ID, rate, burst)
	if !ok {
		secs := max(int(math.Ceil(wait.Seconds())), 1)
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
		return models.Errorf(models.RateLimited, "too many requests with this token; try again in %d s", secs)
	}
	return c.Next()
}
