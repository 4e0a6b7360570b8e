package handlers

import (
	"bufio"
	"context"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	dto "github.com/prometheus/client_model/go"

	"github.com/baton-run/baton/models"
)

// Live monitoring: the state of this instance and its database, sampled at
// most once a second however many dashboards watch (shared/spec/insight.md).
func (s *server) monitorRoutes() []route {
	return []route{
		{fiber.MethodGet, "/api/v1/monitor", models.RoleViewer, s.monitorNow},
		{fiber.MethodGet, "/api/v1/monitor/events", models.RoleViewer, s.monitorEvents},
	}
}

// Monitor is GET /api/v1/monitor.
type Monitor struct {
	At              time.Time      `json:"at"`
	ActiveRuns      int64          `json:"activeRuns"`
	WaitingRuns     int64          `json:"waitingRuns"`
	QueuedSteps     int64          `json:"queuedSteps"`
	StartsPerSec    float64        `json:"startsPerSec"`
	FinishesPerSec  float64        `json:"finishesPerSec"`
	FailuresLast5m  int64          `json:"failuresLast5m"`
	CommitMs        CommitLatency  `json:"commitMs"`
	Database        string         `json:"database"`
	Process         ProcessMonitor `json:"process"`
	Devices         DeviceCounts   `json:"devices"`
	StartsTotal     float64        `json:"-"`
	FinishesTotal   float64        `json:"-"`
	FailuresTotal   float64        `json:"-"`
	commitHistogram []bucketCount
}

// CommitLatency is the group commit's latency over the last few seconds
// (null when nothing was committed).
type CommitLatency struct {
	P50 *float64 `json:"p50"`
	P99 *float64 `json:"p99"`
}

// ProcessMonitor is this process's resources.
type ProcessMonitor struct {
	CPUPercent      float64 `json:"cpuPercent"`
	RSSBytes        int64   `json:"rssBytes"`
	Goroutines      int     `json:"goroutines"`
	OpenConnections int     `json:"openConnections"`
}

// DeviceCounts are the registered devices whose agent is connected
// (draining ones included) and those away; revoked devices are not
// counted.
type DeviceCounts struct {
	Online  int `json:"online"`
	Offline int `json:"offline"`
}

type bucketCount struct {
	le    float64
	count float64
}

// monitorSampler keeps the last samples: rates and the failures of the
// last five minutes are differences between them.
type monitorSampler struct {
	mu      sync.Mutex
	last    *Monitor
	history []Monitor // one a second at most, five minutes
	cpu     time.Duration
	cpuAt   time.Time
}

// monitorFresh is how old a sample may be before it is taken again.
const monitorFresh = 900 * time.Millisecond

func (s *server) monitorSample(ctx context.Context) (Monitor, error) {
	ms := s.monitor
	ms.mu.Lock()
	defer ms.mu.Unlock()
	now := time.Now()
	if ms.last != nil && now.Sub(ms.last.At) < monitorFresh {
		return *ms.last, nil
	}
	m := Monitor{At: now.UTC(), Database: "ok"}
	if is, err := s.insight(); err == nil {
		counts, err := is.RunCounts(ctx)
		if err != nil {
			m.Database = "unavailable"
		}
		m.ActiveRuns = counts[models.RunQueued] + counts[models.RunRunning]
		m.WaitingRuns = counts[models.RunWaiting]
		m.Process.OpenConnections = is.OpenConnections()
	}
	if err := s.store.Ping(ctx); err != nil {
		m.Database = "unavailable"
	}
	s.gatherEngine(&m)
	if s.deps.Devices != nil {
		// Registered devices by connection (revoked ones are gone for good).
		if devs, err := s.deps.Devices.Devices(ctx); err == nil {
			for _, d := range devs {
				switch d.Status {
				case models.DeviceOnline, models.DeviceDraining:
					m.Devices.Online++
				case models.DeviceOffline:
					m.Devices.Offline++
				}
			}
		}
	}
	m.Process.Goroutines = runtime.NumGoroutine()
	m.Process.RSSBytes = rss()
	cpu := cpuTime()
	if !ms.cpuAt.IsZero() {
		if wall := now.Sub(ms.cpuAt); wall > 0 {
			m.Process.CPUPercent = math.Round(1000*float64(cpu-ms.cpu)/float64(wall)) / 10
		}
	}
	ms.cpu, ms.cpuAt = cpu, now
	// Rates over the last sample, failures over five minutes, commit
	// latency over the last ten seconds.
	if ms.last != nil {
		if dt := now.Sub(ms.last.At).Seconds(); dt > 0 {
			m.StartsPerSec = math.Round(100*(m.StartsTotal-ms.last.StartsTotal)/dt) / 100
			m.FinishesPerSec = math.Round(100*(m.FinishesTotal-ms.last.FinishesTotal)/dt) / 100
		}
	}
	cut := 0
	for cut < len(ms.history) && now.Sub(ms.history[cut].At) > 5*time.Minute {
		cut++
	}
	ms.history = append(ms.history[cut:], m)
	m.FailuresLast5m = int64(m.FailuresTotal - ms.history[0].FailuresTotal)
	var base *Monitor
	for i := range ms.history {
		if now.Sub(ms.history[i].At) <= 10*time.Second {
			if i > 0 {
				base = &ms.history[i-1]
			}
			break
		}
	}
	m.CommitMs = commitLatency(m.commitHistogram, base)
	ms.last = &m
	return m, nil
}

// gatherEngine reads the engine's metrics from the registry.
func (s *server) gatherEngine(m *Monitor) {
	mfs, err := s.deps.Registry.Gather()
	if err != nil {
		return
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "baton_runs_started_total":
			m.StartsTotal = sumCounters(mf)
		case "baton_runs_finished_total":
			m.FinishesTotal = sumCounters(mf)
			for _, x := range mf.GetMetric() {
				for _, l := range x.GetLabel() {
					if l.GetName() == "status" && l.GetValue() != string(models.RunSucceeded) && l.GetValue() != string(models.RunCancelled) {
						m.FailuresTotal += x.GetCounter().GetValue()
					}
				}
			}
		case "baton_action_queue_depth":
			for _, x := range mf.GetMetric() {
				m.QueuedSteps += int64(x.GetGauge().GetValue())
			}
		case "baton_commit_duration_seconds":
			for _, x := range mf.GetMetric() {
				for _, b := range x.GetHistogram().GetBucket() {
					m.commitHistogram = append(m.commitHistogram, bucketCount{b.GetUpperBound(), float64(b.GetCumulativeCount())})
				}
			}
		}
	}
}

func sumCounters(mf *dto.MetricFamily) float64 {
	var n float64
	for _, x := range mf.GetMetric() {
		n += x.GetCounter().GetValue()
	}
	return n
}

// commitLatency reads p50 and p99 (upper bucket bounds, in ms) from the
// commits counted since base.
func commitLatency(now []bucketCount, base *Monitor) CommitLatency {
	if len(now) == 0 {
		return CommitLatency{}
	}
	d := make([]bucketCount, len(now))
	copy(d, now)
	if base != nil && len(base.commitHistogram) == len(now) {
		for i := range d {
			d[i].count -= base.commitHistogram[i].count
		}
	}
	sort.Slice(d, func(i, j int) bool { return d[i].le < d[j].le })
	total := d[len(d)-1].count
	if total <= 0 {
		return CommitLatency{}
	}
	q := func(p float64) *float64 {
		for _, b := range d {
			if b.count >= p*total {
				v := b.le * 1000
				if math.IsInf(v, 1) {
					v = d[len(d)-2].le * 1000
				}
				return &v
			}
		}
		return nil
	}
	return CommitLatency{P50: q(0.5), P99: q(0.99)}
}

// rss is the resident set size (Linux /proc), else the Go runtime's
// memory obtained from the system.
func rss() int64 {
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		f := strings.Fields(string(b))
		if len(f) > 1 {
			if pages, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				return pages * int64(os.Getpagesize())
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.Sys)
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (s *server) monitorNow(c *fiber.Ctx) error {
	m, err := s.monitorSample(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(m)
}

// monitorInterval is the pause between two samples on the stream.
const monitorInterval = time.Second

// monitorEvents is GET /api/v1/monitor/events: the monitor object every
// second as "monitor" events.
func (s *server) monitorEvents(c *fiber.Ctx) error {
	release, err := s.streams.acquire(principalOf(c).user.ID)
	if err != nil {
		return err
	}
	setSSEHeaders(c)
	ctx := s.streamContext()
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer release()
		if _, err := w.WriteString(": connected\n\n"); err != nil {
			return
		}
		t := time.NewTicker(monitorInterval)
		defer t.Stop()
		for {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			m, err := s.monitorSample(sctx)
			cancel()
			if err == nil {
				if writeEvent(w, "", "monitor", m) != nil {
					return
				}
			}
			if w.Flush() != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return nil
}
