package handlers

import (
	"sync"
	"time"

	"github.com/baton-run/baton/models"
)

// tokenCacheTTL is how long a token found in the store is trusted without
// asking again. Every API request authenticates, and the lookup (a join of
// api_tokens and users) was the largest cost of a request after the work
// itself; a script starting runs in a loop now pays it once per TTL.
// Revoking a token or changing a user's roles through this instance takes
// effect at once (the entries are dropped); done elsewhere (another
// instance, `baton token revoke`, `baton user roles`) it takes effect
// within the TTL.
const tokenCacheTTL = 2 * time.Second

// maxCachedTokens bounds the cache; past it, expired entries are dropped
// and, if that is not enough, the cache starts over.
const maxCachedTokens = 10_000

// tokenCache remembers valid tokens by hash for tokenCacheTTL. Only valid,
// unrevoked tokens of enabled users are kept: an unknown token always asks
// the store.
type tokenCache struct {
	now func() time.Time // monotonic wall clock, not Deps.Now: tests move that one by hours

	mu      sync.Mutex
	entries map[string]*cachedToken
}

type cachedToken struct {
	tok     models.APIToken
	user    models.User
	expires time.Time
}

func newTokenCache() *tokenCache {
	return &tokenCache{now: time.Now, entries: map[string]*cachedToken{}}
}

// get returns copies of a cached token and its user.
func (c *tokenCache) get(hash string) (*models.APIToken, *models.User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if !ok {
		return nil, nil, false
	}
	if c.now().After(e.expires) {
		delete(c.entries, hash)
		return nil, nil, false
	}
	tok, user := e.tok, e.user
	return &tok, &user, true
}

func (c *tokenCache) put(hash string, tok *models.APIToken, user *models.User) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCachedTokens {
		for k, e := range c.entries {
			if now.After(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCachedTokens {
			c.entries = map[string]*cachedToken{}
		}
	}
	c.entries[hash] = &cachedToken{tok: *tok, user: *user, expires: now.Add(tokenCacheTTL)}
}

// touched records a "last used" write, so the next requests within the
// TTL do not write it again.
func (c *tokenCache) touched(hash string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[hash]; ok {
		e.tok.LastUsedAt = &at
	}
}

// forgetToken drops a token (revoked).
func (c *tokenCache) forgetToken(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if e.tok.ID == id {
			delete(c.entries, k)
		}
	}
}

// forgetUser drops every token of a user (roles changed, disabled).
func (c *tokenCache) forgetUser(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if e.user.ID == id {
			delete(c.entries, k)
		}
	}
}
