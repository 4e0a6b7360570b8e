package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// Steady is the steady-rate workload: runs of W1's chain started at a fixed
// rate (open loop: a start does not wait for the previous one), spread
// round robin over several servers, each start ?wait= its run, for a
// duration. It reports the latency (request to finished run) per interval,
// so that a latency or memory that grows with time shows, and the servers'
// resident memory at the start and at the end.
type SteadyReport struct {
	Rate     float64          `json:"rate"` // starts per second asked
	Duration float64          `json:"durationSeconds"`
	Servers  []string         `json:"servers"`
	Interval []Result         `json:"intervals"` // one per interval, by start time
	Total    Result           `json:"total"`
	RSS      []SteadyRSS      `json:"rss"`
	Backlog  int              `json:"backlog"` // starts not sent: too many requests in flight
	Errors   map[string]int64 `json:"errors,omitempty"`
}

// SteadyRSS is one server's resident memory (process_resident_memory_bytes
// of its /metrics) before and after the workload, in MiB.
type SteadyRSS struct {
	Server  string  `json:"server"`
	StartMB float64 `json:"startMB"`
	EndMB   float64 `json:"endMB"`
}

// maxInFlight bounds the requests the steady workload keeps open: past it
// the servers are not keeping up and starts are counted as backlog, not
// queued, so the client never hides a server's slowdown in its own queue.
const maxInFlight = 2000

// Steady runs the steady-rate workload over clients (one per server).
func Steady(ctx context.Context, clients []*Client, rate float64, d, interval time.Duration) SteadyReport {
	rep := SteadyReport{Rate: rate, Duration: d.Seconds()}
	for _, c := range clients {
		rep.Servers = append(rep.Servers, c.base.String())
		rep.RSS = append(rep.RSS, SteadyRSS{Server: c.base.String(), StartMB: c.rssMB(ctx)})
	}
	if interval <= 0 || interval > d {
		interval = d
	}
	n := int((d + interval - 1) / interval)
	type sample struct {
		lat []time.Duration
		ok  int
		res Result
	}
	buckets := make([]sample, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var inFlight atomic.Int64
	period := time.Duration(float64(time.Second) / rate)
	t0 := time.Now()
	for i := 0; ; i++ {
		// The i-th start is due at t0 + i×period, however late the ticker
		// is: the rate holds over the whole duration.
		due := t0.Add(time.Duration(i) * period)
		if due.Sub(t0) >= d || ctx.Err() != nil {
			break
		}
		if wait := time.Until(due); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		b := min(int(due.Sub(t0)/interval), n-1)
		if inFlight.Load() >= maxInFlight {
			mu.Lock()
			rep.Backlog++
			buckets[b].res.Runs++
			buckets[b].res.fail("not sent: too many requests in flight")
			mu.Unlock()
			continue
		}
		inFlight.Add(1)
		wg.Add(1)
		c := clients[i%len(clients)]
		go func() {
			defer wg.Done()
			defer inFlight.Add(-1)
			s := time.Now()
			r, err := c.start(ctx, KeyChain, []byte(`{}`), "30s")
			lat := time.Since(s)
			mu.Lock()
			defer mu.Unlock()
			bk := &buckets[b]
			bk.res.Runs++
			bk.lat = append(bk.lat, lat)
			switch {
			case err != nil:
				bk.res.fail(errKey(err))
			case r.Status == "succeeded":
				bk.ok++
			default:
				bk.res.fail("run " + r.Status)
			}
		}()
	}
	wg.Wait()
	wall := time.Since(t0)
	var all []time.Duration
	total := Result{Workload: "total", What: fmt.Sprintf("%.0f starts/s of W1's chain over %d servers", rate, len(clients))}
	for i := range buckets {
		bk := &buckets[i]
		r := bk.res
		r.Workload = fmt.Sprintf("%s–%s", fmtOffset(time.Duration(i)*interval), fmtOffset(min(time.Duration(i+1)*interval, d)))
		r.Succeeded = bk.ok
		r.summarize(bk.lat, min(interval, d-time.Duration(i)*interval))
		rep.Interval = append(rep.Interval, r)
		all = append(all, bk.lat...)
		total.Runs += r.Runs
		total.Succeeded += r.Succeeded
		for k, v := range r.Errors {
			if rep.Errors == nil {
				rep.Errors = map[string]int64{}
			}
			rep.Errors[k] += int64(v)
		}
	}
	total.summarize(all, wall)
	rep.Total = total
	for i, c := range clients {
		rep.RSS[i].EndMB = c.rssMB(ctx)
	}
	return rep
}

func fmtOffset(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

// rssMB reads process_resident_memory_bytes from the server's /metrics, in
// MiB (0 when it cannot).
func (c *Client) rssMB(ctx context.Context) float64 {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base.String()+"/metrics", nil)
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := c.http.Do(req)
	if err != nil {
		return 0
	}
	defer func() { _ = res.Body.Close() }()
	sc := bufio.NewScanner(io.LimitReader(res.Body, 16<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_resident_memory_bytes "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return round(f/(1<<20), 1)
			}
		}
	}
	return 0
}

// WriteTable prints the steady workload: one line per interval, the
// total, and the servers' memory.
func (rep *SteadyReport) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "steady: %.0f starts/s for %s over %s (W1's chain, POST …/runs?wait=30s, latency = request to finished run)\n\n",
		rep.Rate, time.Duration(rep.Duration*float64(time.Second)), strings.Join(rep.Servers, ", "))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "interval\truns\tok\tp50 ms\tp95 ms\tp99 ms\truns/s\t")
	for _, r := range append(rep.Interval, rep.Total) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.1f\t\n", r.Workload, r.Runs, r.Succeeded, r.P50ms, r.P95ms, r.P99ms, r.RunsPerS)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, m := range rep.RSS {
		fmt.Fprintf(w, "RSS %s: %.1f MiB at the start, %.1f MiB at the end\n", m.Server, m.StartMB, m.EndMB)
	}
	for k, v := range rep.Errors {
		fmt.Fprintf(w, "failed: %d × %s\n", v, k)
	}
	return nil
}
