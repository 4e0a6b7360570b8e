package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Template keys of the workloads; setup creates them (and has them
// approved) when the server does not have them yet.
const (
	KeyChain  = "bench-chain10"
	KeyWaits  = "bench-waits20"
	KeyBranch = "bench-branch"
)

// ChainDef is W1's definition: 10 set steps one after another.
func ChainDef(key string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "id: %s\nname: bench chain of 10 set steps\nsteps:\n", key)
	for i := range 10 {
		dep := ""
		if i > 0 {
			dep = fmt.Sprintf(", dependencies: [s%d]", i-1)
		}
		fmt.Fprintf(&b, "  - {id: s%d, type: command%s, action: {kind: set, values: {i: %d}}}\n", i, dep, i)
	}
	return b.String()
}

func waitsDef(key string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "id: %s\nname: bench 20 parallel waits of 200 ms\nsteps:\n", key)
	for i := range 20 {
		fmt.Fprintf(&b, "  - {id: w%d, type: wait, action: {duration: 200}}\n", i)
	}
	return b.String()
}

func branchDef(key string) string {
	return "id: " + key + `
name: bench condition branch
inputs:
  value: {type: number, default: 0}
steps:
  - id: check
    type: condition
    action: {condition: big}
    onSuccess: high
    onFailure: low
  - {id: high, type: command, action: {kind: set, values: {result: High}}}
  - {id: low, type: command, action: {kind: set, values: {result: Low}}}
  - {id: respond, type: command, dependencies: [high, low], action: {kind: set, values: {done: true}}}
conditions:
  - {id: big, expression: "inputs.value > 10"}
`
}

// Client calls one Baton server with one API token.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// NewClient returns a client of the server at base (http or https) with an
// API token. Its transport keeps up to 2,000 connections, so that W3's
// 1,000 requests at once each get their own.
func NewClient(base, token string) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not a server URL such as http://127.0.0.1:8080", base)
	}
	if token == "" {
		return nil, errors.New("an API token is required")
	}
	tr := &http.Transport{MaxIdleConns: 2000, MaxIdleConnsPerHost: 2000, IdleConnTimeout: 30 * time.Second}
	return &Client{base: u, token: token, http: &http.Client{Transport: tr}}, nil
}

// Base returns the server's URL.
func (c *Client) Base() string { return c.base.String() }

// Close drops the client's idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// apiError is a response other than the expected status.
type apiError struct {
	status int
	body   string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d: %.200s", e.status, e.body) }

// call sends a request and decodes a JSON answer into out (when not nil);
// any status but want is an *apiError.
func (c *Client) call(ctx context.Context, method, path, contentType string, body []byte, want int, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	_ = res.Body.Close() // all of the body was read; nothing is lost
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		return &apiError{status: res.StatusCode, body: string(data)}
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// Setup makes sure the workloads' templates exist with an approved version.
// A missing template is created as a draft with c's token (which needs the
// designer role), submitted, and approved with approver's token (an
// approver who is not the author; nil when the templates are already
// approved).
func Setup(ctx context.Context, c, approver *Client) error {
	for _, t := range []struct{ key, def string }{
		{KeyChain, ChainDef(KeyChain)}, {KeyWaits, waitsDef(KeyWaits)}, {KeyBranch, branchDef(KeyBranch)},
	} {
		if err := ensureApproved(ctx, c, approver, t.key, t.def); err != nil {
			return fmt.Errorf("template %s: %w", t.key, err)
		}
	}
	return nil
}

func ensureApproved(ctx context.Context, c, approver *Client, key, def string) error {
	var tpl struct {
		LatestVersion         int  `json:"latestVersion"`
		LatestApprovedVersion *int `json:"latestApprovedVersion"`
		LatestStatus          string
	}
	err := c.call(ctx, "GET", "/api/v1/templates/"+key, "", nil, http.StatusOK, &tpl)
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.status == http.StatusNotFound:
		var created struct {
			Version struct {
				Number int `json:"number"`
			} `json:"version"`
		}
		if err := c.call(ctx, "POST", "/api/v1/templates", "application/yaml", []byte(def), http.StatusCreated, &created); err != nil {
			return fmt.Errorf("create (the token needs the designer role): %w", err)
		}
		tpl.LatestVersion = created.Version.Number
	case err != nil:
		return err
	case tpl.LatestApprovedVersion != nil && *tpl.LatestApprovedVersion > 0:
		return nil
	}
	if approver == nil {
		return fmt.Errorf("version %d is not approved: pass --approver-token (an approver other than the author) or approve it in the web app", tpl.LatestVersion)
	}
	n := fmt.Sprint(tpl.LatestVersion)
	var v struct {
		Status string `json:"status"`
	}
	if err := c.call(ctx, "GET", "/api/v1/templates/"+key+"/versions/"+n, "", nil, http.StatusOK, &v); err != nil {
		return err
	}
	if v.Status == "draft" {
		if err := c.call(ctx, "POST", "/api/v1/templates/"+key+"/versions/"+n+"/submit", "", nil, http.StatusOK, nil); err != nil {
			return fmt.Errorf("submit version %s: %w", n, err)
		}
	}
	if err := approver.call(ctx, "POST", "/api/v1/templates/"+key+"/versions/"+n+"/approve", "application/json", []byte(`{"comment":"baton bench"}`), http.StatusOK, nil); err != nil {
		return fmt.Errorf("approve version %s: %w", n, err)
	}
	return nil
}

// run is the part of a run record the workloads read.
type run struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// start posts one start and returns the run as the answer shows it.
func (c *Client) start(ctx context.Context, key string, body []byte, wait string) (run, error) {
	path := "/api/v1/templates/" + key + "/runs"
	if wait != "" {
		path += "?wait=" + wait
	}
	var r run
	err := c.call(ctx, "POST", path, "application/json", body, http.StatusCreated, &r)
	return r, err
}

func errKey(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		var e struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal([]byte(ae.body), &e)
		return fmt.Sprintf("HTTP %d %s", ae.status, e.Error.Code)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return err.Error()
}

// Sequential runs n starts of key one after another with ?wait=, and counts
// runs that ended succeeded. body returns the request body of run i.
func (c *Client) Sequential(ctx context.Context, name, what, key string, n, warmup int, body func(i int) []byte) Result {
	res := Result{Workload: name, What: what, Runs: n}
	for i := range warmup {
		_, _ = c.start(ctx, key, body(i), "5s")
	}
	lat := make([]time.Duration, 0, n)
	t0 := time.Now()
	for i := range n {
		if ctx.Err() != nil {
			res.fail("out of time")
			break
		}
		s := time.Now()
		r, err := c.start(ctx, key, body(i), "5s")
		lat = append(lat, time.Since(s))
		switch {
		case err != nil:
			res.fail(errKey(err))
		case r.Status != "succeeded":
			res.fail("run " + r.Status)
		default:
			res.Succeeded++
		}
	}
	res.summarize(lat, time.Since(t0))
	return res
}

// AtOnce sends n starts of key at the same moment, each on its own
// connection with ?wait=, and measures until the last answer.
func (c *Client) AtOnce(ctx context.Context, name, what, key string, n int) Result {
	res := Result{Workload: name, What: what, Runs: n}
	lat := make([]time.Duration, n)
	errs := make([]error, n)
	status := make([]string, n)
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-gate
			s := time.Now()
			r, err := c.start(ctx, key, []byte(`{}`), "2m")
			lat[i], errs[i], status[i] = time.Since(s), err, r.Status
		}()
	}
	ready.Wait()
	t0 := time.Now()
	close(gate)
	done.Wait()
	wall := time.Since(t0)
	for i := range n {
		switch {
		case errs[i] != nil:
			res.fail(errKey(errs[i]))
		case status[i] != "succeeded":
			res.fail("run " + status[i])
		default:
			res.Succeeded++
		}
	}
	res.summarize(lat, wall)
	return res
}

// Async starts n runs of key without ?wait= from clients goroutines (each
// one start after another); runs/s counts accepted starts over the time to
// accept them all. Then it waits (bounded by ctx) until none of the
// template's runs is unfinished, and counts the succeeded ones among those
// it started by reading each back.
func (c *Client) Async(ctx context.Context, name, what, key string, n, clients int) Result {
	res := Result{Workload: name, What: what, Runs: n}
	var next atomic.Int64
	var mu sync.Mutex
	lat := make([]time.Duration, 0, n)
	ids := make([]string, 0, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				s := time.Now()
				r, err := c.start(ctx, key, []byte(`{}`), "")
				d := time.Since(s)
				mu.Lock()
				lat = append(lat, d)
				if err != nil {
					res.fail(errKey(err))
				} else {
					ids = append(ids, r.ID)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.summarize(lat, time.Since(t0))
	// Every run was accepted; now see them finish.
	for _, id := range ids {
		for ctx.Err() == nil {
			var r run
			if err := c.call(ctx, "GET", "/api/v1/runs/"+id, "", nil, http.StatusOK, &r); err != nil {
				res.fail(errKey(err))
				break
			}
			if r.Status == "succeeded" {
				res.Succeeded++
				break
			}
			if r.Status == "failed" || r.Status == "cancelled" || r.Status == "timed_out" {
				res.fail("run " + r.Status)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return res
}
