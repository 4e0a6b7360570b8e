// Package bench is `baton bench`: the workloads that measure Baton as a user
// meets it, through the HTTP API, and the engine alone for comparison. It
// only talks to the base URL it is given; every workload is bounded in runs
// and in time.
//
// The workloads (definitions in workloads.go):
//
//	W1     a 10-step chain of set steps, one client, POST …/runs?wait=
//	W2     20 parallel branches that each wait 200 ms, one client, ?wait=
//	W3     1,000 runs started at once (one request each, ?wait=), one token
//	W4     a condition branch (if value > 10: set High, else set Low; then a join), one client, ?wait=
//	async  starts without ?wait= from 16 clients; runs/s counts accepted starts, then waits for all to finish
//	engine W1 with the engine called directly (no HTTP), for the ratio API/engine
package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is one workload's figures. Latencies are per run, from sending the
// request to reading the finished run (or, for async, the accepted start).
type Result struct {
	Workload  string  `json:"workload"`
	What      string  `json:"what"`
	Runs      int     `json:"runs"`
	Succeeded int     `json:"succeeded"`
	P50ms     float64 `json:"p50Ms"`
	P95ms     float64 `json:"p95Ms"`
	P99ms     float64 `json:"p99Ms"`
	RunsPerS  float64 `json:"runsPerSecond"`
	Seconds   float64 `json:"seconds"`
	// PeakRSSMB is the peak resident memory of the server process during
	// the workload, when the server runs in this process (0 otherwise).
	PeakRSSMB float64 `json:"peakRssMB,omitempty"`
	// Errors counts failed requests by their status or error text.
	Errors map[string]int `json:"errors,omitempty"`
}

// summarize fills the latency and throughput fields from per-run latencies
// and the wall time of the whole workload.
func (r *Result) summarize(lat []time.Duration, wall time.Duration) {
	s := slices.Clone(lat)
	slices.Sort(s)
	r.P50ms, r.P95ms, r.P99ms = pct(s, 0.50), pct(s, 0.95), pct(s, 0.99)
	r.Seconds = round(wall.Seconds(), 3)
	if wall > 0 {
		r.RunsPerS = round(float64(r.Runs)/wall.Seconds(), 1)
	}
}

func (r *Result) fail(what string) {
	if r.Errors == nil {
		r.Errors = map[string]int{}
	}
	r.Errors[what]++
}

// pct is the p-th percentile of sorted latencies, in milliseconds.
func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(float64(len(sorted))*p)) - 1
	i = max(0, min(i, len(sorted)-1))
	return round(float64(sorted[i].Nanoseconds())/1e6, 3)
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// Report is everything one `baton bench` prints.
type Report struct {
	Target  string    `json:"target"` // the server's URL, or "in process (sqlite)"
	Started time.Time `json:"started"`
	Results []Result  `json:"results"`
}

// WriteTable prints the report as an aligned table.
func (rep *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "baton bench: %s, %s\n\n", rep.Target, rep.Started.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\truns\tok\tp50 ms\tp95 ms\tp99 ms\truns/s\tpeak RSS MB\t")
	for _, r := range rep.Results {
		rss := "—"
		if r.PeakRSSMB > 0 {
			rss = strconv.FormatFloat(r.PeakRSSMB, 'f', 0, 64)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.0f\t%s\t\n", r.Workload, r.Runs, r.Succeeded, r.P50ms, r.P95ms, r.P99ms, r.RunsPerS, rss)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, r := range rep.Results {
		fmt.Fprintf(w, "%-7s %s\n", r.Workload, r.What)
		if len(r.Errors) > 0 {
			keys := make([]string, 0, len(r.Errors))
			for k := range r.Errors {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				fmt.Fprintf(w, "        failed: %d × %s\n", r.Errors[k], k)
			}
		}
	}
	var api, eng *Result
	for i := range rep.Results {
		switch rep.Results[i].Workload {
		case "W1":
			api = &rep.Results[i]
		case "engine":
			eng = &rep.Results[i]
		}
	}
	if api != nil && eng != nil && eng.P50ms > 0 {
		fmt.Fprintf(w, "\nW1 through the API / the engine alone (p50): %.1f×\n", api.P50ms/eng.P50ms)
	}
	return nil
}

// WriteJSON prints the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// PeakRSS reads and resets this process's peak resident memory (Linux;
// elsewhere ok is false). Resetting (writing 5 to /proc/self/clear_refs)
// lets each workload report its own peak rather than the process's.
type PeakRSS struct{}

// Reset starts a new peak.
func (PeakRSS) Reset() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// MB returns the peak since the last Reset, in MiB.
func (PeakRSS) MB() (float64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return 0, false
			}
			return round(kb/1024, 1), true
		}
	}
	return 0, false
}
