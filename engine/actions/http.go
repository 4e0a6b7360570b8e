package actions

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/models"
)

// HTTPConfig tunes the http action. The zero value works.
type HTTPConfig struct {
	// Client sends the requests. Defaults to a client with sane transport
	// timeouts; its CheckRedirect is replaced to cap redirects.
	Client *http.Client
	// MaxRedirects caps the redirects followed. Defaults to 10.
	MaxRedirects int
	// MaxResponseBytes caps the response body read. Defaults to the
	// engine's output limit for the attempt (ActionInput.MaxOutputBytes).
	MaxResponseBytes int
	// DefaultTimeout applies when the step has no timeout. Defaults to 60s.
	DefaultTimeout time.Duration
	// Egress decides which addresses requests may connect to (see
	// EgressPolicy). nil applies the built-in blocks only (cloud metadata,
	// link-local), loopback permitted. It is installed as the dialer of
	// the client's *http.Transport (a clone of it); a client with another
	// kind of RoundTripper is used as is. Environment proxies are not
	// used: through a proxy, the policy would check the proxy's address
	// instead of the destination's.
	Egress *EgressPolicy
}

// CodeEgressDenied is the step error of a request the egress policy
// refused; it is not retried.
const CodeEgressDenied = "egress_denied"

// HTTP is the http action: one request per attempt, with an
// Idempotency-Key header that stays the same across retries and restarts.
type HTTP struct {
	cfg    HTTPConfig
	client *http.Client
}

// NewHTTP returns the http action.
func NewHTTP(cfg HTTPConfig) *HTTP {
	cfg.MaxRedirects = cmp.Or(cfg.MaxRedirects, 10)
	cfg.DefaultTimeout = cmp.Or(cfg.DefaultTimeout, 60*time.Second)
	c := &http.Client{}
	if cfg.Client != nil {
		cc := *cfg.Client
		c = &cc
	}
	if cfg.Egress == nil {
		cfg.Egress = &EgressPolicy{}
	}
	switch t := c.Transport.(type) {
	case nil:
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		tr.DialContext = cfg.Egress.dialContext
		c.Transport = tr
	case *http.Transport:
		tr := t.Clone()
		tr.Proxy = nil
		tr.DialContext = cfg.Egress.dialContext
		c.Transport = tr
	}
	max := cfg.MaxRedirects
	c.CheckRedirect = func(_ *http.Request, via []*http.Request) error {
		if len(via) > max {
			return fmt.Errorf("stopped after %d redirects", max)
		}
		return nil
	}
	return &HTTP{cfg: cfg, client: c}
}

// Kind returns "http".
func (*HTTP) Kind() string { return models.KindHTTP }

// Run sends the request and returns {status, headers, body}.
func (h *HTTP) Run(ctx context.Context, in engine.ActionInput) (any, error) {
	a := in.Action
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.cfg.DefaultTimeout)
		defer cancel()
	}
	u, err := url.Parse(a.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, engine.Permanent("invalid_url", "%q is not an http or https URL", a.URL)
	}
	if len(a.Query) > 0 {
		q := u.Query()
		for k, v := range a.Query {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
	}
	var body io.Reader
	contentType := ""
	switch b := a.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
		contentType = "text/plain; charset=utf-8"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return nil, engine.Permanent("invalid_body", "the body cannot be sent as JSON: %v", err)
		}
		body = bytes.NewReader(data)
		contentType = "application/json"
	}
	method := strings.ToUpper(cmp.Or(a.Method, http.MethodGet))
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, engine.Permanent("invalid_request", "%v", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Idempotency-Key", in.IdempotencyKey)
	req.Header.Set("User-Agent", "baton")
	for k, v := range a.Headers {
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var denied *EgressDenied
		if errors.As(err, &denied) {
			return nil, engine.Permanent(CodeEgressDenied, "%s %s: %v", method, redactURL(u), denied)
		}
		return nil, engine.Retryable(engine.CodeHTTP, "%s %s: %v", method, redactURL(u), unwrapURLError(err))
	}
	// The body is read to the end or to the cap below; a close error after
	// that changes nothing about the outcome.
	defer func() { _ = resp.Body.Close() }()
	limit := h.cfg.MaxResponseBytes
	if limit <= 0 {
		limit = cmp.Or(in.MaxOutputBytes, 1<<20)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, engine.Retryable(engine.CodeHTTP, "%s %s: reading the response: %v", method, redactURL(u), err)
	}
	if len(data) > limit {
		return nil, engine.Permanent(engine.CodeOutputLarge, "the response body is larger than %d bytes", limit)
	}
	out := map[string]any{"status": resp.StatusCode, "headers": headers(resp.Header), "body": decodeBody(resp.Header, data)}
	if expected(a.ExpectStatus, resp.StatusCode) {
		return out, nil
	}
	code := resp.StatusCode
	retry := code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
	return nil, &engine.StepFailure{Code: engine.CodeHTTPStatus, Retryable: retry, Output: out,
		Message: fmt.Sprintf("%s %s answered %d %s", method, redactURL(u), code, http.StatusText(code))}
}

func expected(want []int, got int) bool {
	if len(want) == 0 {
		return got >= 200 && got < 300
	}
	return slices.Contains(want, got)
}

func headers(h http.Header) map[string]any {
	out := make(map[string]any, len(h))
	for k, v := range h {
		out[k] = strings.Join(v, ", ")
	}
	return out
}

// decodeBody parses a JSON response, and keeps anything else as text.
func decodeBody(h http.Header, data []byte) any {
	if len(data) == 0 {
		return nil
	}
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if mt == "application/json" || strings.HasSuffix(mt, "+json") {
		var v any
		if err := json.Unmarshal(data, &v); err == nil {
			return v
		}
	}
	return string(data)
}

func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	return c.String()
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
