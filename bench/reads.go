package bench

import (
	"context"
	"net/http"
	"time"
)

// Reads measures the reads a user makes while runs pile up, each one
// request after another from one client: the runs list (newest first, the
// first page), the runs list filtered by template, one run's record (the
// run page's main read, of the oldest run on the first page) and the
// approvals inbox (read with inbox's token, an approver's; c's when nil).
// n requests of each, after warmup; a request counts as succeeded on 200.
func (c *Client) Reads(ctx context.Context, n, warmup int, inbox *Client) []Result {
	if inbox == nil {
		inbox = c
	}
	var first struct {
		Runs []run `json:"runs"`
	}
	runPath := ""
	if err := c.call(ctx, "GET", "/api/v1/runs?limit=50", "", nil, http.StatusOK, &first); err == nil && len(first.Runs) > 0 {
		runPath = "/api/v1/runs/" + first.Runs[len(first.Runs)-1].ID
	}
	reads := []struct {
		name, what, path string
		by               *Client
	}{
		{"list", "GET /api/v1/runs?limit=50 (the runs list's first page)", "/api/v1/runs?limit=50", c},
		{"list-template", "GET /api/v1/runs?template=" + KeyChain + "&limit=50", "/api/v1/runs?template=" + KeyChain + "&limit=50", c},
		{"run", "GET /api/v1/runs/{id} (a run's record, as its page reads it)", runPath, c},
		{"approvals", "GET /api/v1/approvals (the approvals inbox, as an approver)", "/api/v1/approvals", inbox},
	}
	out := make([]Result, 0, len(reads))
	for _, rd := range reads {
		res := Result{Workload: rd.name, What: rd.what, Runs: n}
		if rd.path == "" {
			res.fail("no run to read")
			out = append(out, res)
			continue
		}
		for range warmup {
			_ = rd.by.call(ctx, "GET", rd.path, "", nil, http.StatusOK, nil)
		}
		lat := make([]time.Duration, 0, n)
		t0 := time.Now()
		for range n {
			if ctx.Err() != nil {
				res.fail("out of time")
				break
			}
			s := time.Now()
			err := rd.by.call(ctx, "GET", rd.path, "", nil, http.StatusOK, nil)
			lat = append(lat, time.Since(s))
			if err != nil {
				res.fail(errKey(err))
			} else {
				res.Succeeded++
			}
		}
		res.summarize(lat, time.Since(t0))
		out = append(out, res)
	}
	return out
}
