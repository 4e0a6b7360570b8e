package engine_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/actions"
	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

// The engine's benchmarks. Every one runs with durable persistence (a step's
// dependents start only after its completion is committed) on SQLite and,
// with BATON_TEST_POSTGRES_URL, on PostgreSQL. Custom metrics: p50-ms and
// p99-ms (wall time from StartRun to the end of Wait), runs/s, heap-MB.
// docs/performance.md records the numbers and the commands.

func chainDef(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "id: chain-%d\nname: chain\nsteps:\n", n)
	for i := 0; i < n; i++ {
		dep := ""
		if i > 0 {
			dep = fmt.Sprintf(", dependencies: [s%d]", i-1)
		}
		fmt.Fprintf(&b, "  - {id: s%d, type: command%s, action: {kind: set, values: {i: %d}}}\n", i, dep, i)
	}
	return b.String()
}

func benchDBs(b *testing.B, f func(b *testing.B, open func(testing.TB) *store.Store)) {
	for _, db := range storetest.Databases(b) {
		b.Run(db.Name, func(b *testing.B) { f(b, db.Open) })
	}
}

func benchEngine(b *testing.B, open func(testing.TB) *store.Store, cfg engine.Config) *engine.Engine {
	b.Helper()
	st := open(b)
	eng := engine.New(st, engine.NewRegistry(actions.Builtins(nil)...), cfg)
	if err := eng.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = eng.Stop(context.Background()) })
	return eng
}

func percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return float64(s[i].Microseconds()) / 1000
}

// BenchmarkChain runs chains of set steps one after another: the engine's
// own overhead per run, since a set step does no work.
func BenchmarkChain(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("steps=%d", n), func(b *testing.B) {
			benchDBs(b, func(b *testing.B, open func(testing.TB) *store.Store) {
				eng := benchEngine(b, open, engine.Config{})
				compiled := compile(b, chainDef(n))
				ctx := context.Background()
				var lat []time.Duration
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					start := time.Now()
					run, err := eng.StartRun(ctx, compiled, engine.RunOptions{})
					if err != nil {
						b.Fatal(err)
					}
					run, err = eng.Wait(ctx, run.ID)
					if err != nil || run.Status != models.RunSucceeded {
						b.Fatalf("run %s: %v", run.Status, err)
					}
					lat = append(lat, time.Since(start))
				}
				b.StopTimer()
				b.ReportMetric(percentile(lat, 0.5), "p50-ms")
				b.ReportMetric(percentile(lat, 0.99), "p99-ms")
				b.ReportMetric(percentile(lat, 0.5)*1000/float64(n), "µs/step")
			})
		})
	}
}

// BenchmarkConcurrentRuns starts runs of a 10-step chain all at once (1,000
// per b.N iteration; 10,000 for runs=10000) and waits for all: throughput
// with group commit, with metrics on, with 100 subscribers to every run's
// events.
func BenchmarkConcurrentRuns(b *testing.B) {
	for _, mode := range []string{"plain", "metrics", "subscribers=100", "subscribers=100/batches", "subscriber-per-run", "runs=10000", "alerts=100"} {
		b.Run(mode, func(b *testing.B) {
			benchDBs(b, func(b *testing.B, open func(testing.TB) *store.Store) {
				cfg := engine.Config{}
				if mode == "metrics" {
					cfg.Metrics = engine.NewMetrics(prometheus.NewRegistry())
				}
				var st *store.Store
				eng := benchEngine(b, func(tb testing.TB) *store.Store { st = open(tb); return st }, cfg)
				if mode == "alerts=100" {
					benchAlerts(b, st, eng)
				}
				if mode == "subscribers=100" {
					var wg sync.WaitGroup
					// Cleanups run last-in first-out: wait for the readers
					// after their subscriptions are closed.
					b.Cleanup(wg.Wait)
					for i := 0; i < 100; i++ {
						sub := eng.Subscribe("", 4096)
						wg.Add(1)
						go func() {
							defer wg.Done()
							for range sub.C {
							}
						}()
						b.Cleanup(sub.Close)
					}
				}
				if mode == "subscribers=100/batches" {
					var wg sync.WaitGroup
					b.Cleanup(wg.Wait)
					for i := 0; i < 100; i++ {
						sub := eng.SubscribeBatches("", 4096)
						wg.Add(1)
						go func() {
							defer wg.Done()
							for range sub.C {
							}
						}()
						b.Cleanup(sub.Close)
					}
				}
				n := 1000
				if mode == "runs=10000" {
					n = 10000
				}
				benchConcurrentSub(b, eng, compile(b, chainDef(10)), n, mode == "subscriber-per-run")
			})
		})
	}
}

// benchConcurrentSub starts n runs at once and waits for all; with perRun,
// each run has one subscriber of its own reading its events until it ends (one SSE client
// per run page, the normal case).
func benchConcurrentSub(b *testing.B, eng *engine.Engine, compiled *plan.Plan, n int, perRun bool) {
	ctx := context.Background()
	var peak uint64
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		var failed atomic.Int32
		for j := 0; j < n; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run, err := eng.StartRun(ctx, compiled, engine.RunOptions{})
				if err == nil && perRun {
					sub := eng.Subscribe(run.ID, 256)
					go func() {
						for range sub.C {
						}
					}()
					defer sub.Close()
				}
				if err == nil {
					run, err = eng.Wait(ctx, run.ID)
				}
				if err != nil || run.Status != models.RunSucceeded {
					failed.Add(1)
				}
			}()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
		wg.Wait()
		if f := failed.Load(); f > 0 {
			b.Fatalf("%d of %d runs did not succeed", f, n)
		}
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*n)/el.Seconds(), "runs/s")
	b.ReportMetric(float64(peak)/(1<<20), "heap-MB")
}

// BenchmarkParallelWaits runs 20 branches that each wait 200 ms: they must
// overlap (≤ 220 ms in all, against 4 s one after another).
func BenchmarkParallelWaits(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("id: waits\nname: waits\nsteps:\n")
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&sb, "  - {id: w%d, type: wait, action: {duration: 200}}\n", i)
	}
	benchDBs(b, func(b *testing.B, open func(testing.TB) *store.Store) {
		eng := benchEngine(b, open, engine.Config{})
		compiled := compile(b, sb.String())
		ctx := context.Background()
		var lat []time.Duration
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			run, err := eng.StartRun(ctx, compiled, engine.RunOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if run, err = eng.Wait(ctx, run.ID); err != nil || run.Status != models.RunSucceeded {
				b.Fatalf("%s %v", run.Status, err)
			}
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		b.ReportMetric(percentile(lat, 0.5), "p50-ms")
		b.ReportMetric(4000/percentile(lat, 0.5), "x-sequential")
	})
}

// BenchmarkParked parks runs on a signal wait and reports what each costs:
// no goroutine per run (goroutines/run ≈ 0) and bytes of heap per run.
func BenchmarkParked(b *testing.B) {
	const per = 10000
	benchDBs(b, func(b *testing.B, open func(testing.TB) *store.Store) {
		eng := benchEngine(b, open, engine.Config{})
		compiled := compile(b, `
id: parked
name: parked
steps:
  - {id: gate, type: wait, action: {signal: go, timeout: 24h}}
`)
		ctx := context.Background()
		runtime.GC()
		g0 := runtime.NumGoroutine()
		var m0 runtime.MemStats
		runtime.ReadMemStats(&m0)
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			var wg sync.WaitGroup
			sem := make(chan struct{}, 1000)
			for j := 0; j < per; j++ {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					if _, err := eng.StartRun(ctx, compiled, engine.RunOptions{}); err != nil {
						b.Error(err)
					}
				}()
			}
			wg.Wait()
		}
		el := time.Since(start)
		b.StopTimer()
		time.Sleep(100 * time.Millisecond)
		runtime.GC()
		var m1 runtime.MemStats
		runtime.ReadMemStats(&m1)
		parked := eng.ActiveRuns()
		b.ReportMetric(float64(parked), "parked")
		b.ReportMetric(float64(runtime.NumGoroutine()-g0)/float64(parked), "goroutines/run")
		b.ReportMetric(float64(m1.HeapInuse-m0.HeapInuse)/float64(parked), "heap-B/run")
		b.ReportMetric(float64(b.N*per)/el.Seconds(), "starts/s")
	})
}

// BenchmarkOutput writes large step outputs: a 2 MB output persists (with
// the limit raised, one run at a time), and MB/s of 64 KB outputs written
// in batches (16 runs at once).
func BenchmarkOutput(b *testing.B) {
	for _, size := range []int{64 << 10, 2 << 20} {
		b.Run(fmt.Sprintf("bytes=%d", size), func(b *testing.B) {
			benchDBs(b, func(b *testing.B, open func(testing.TB) *store.Store) {
				eng := benchEngine(b, open, engine.Config{})
				def, err := plan.Parse([]byte(`
id: output
name: output
inputs: {blob: {type: string, required: true}}
steps:
  - {id: a, type: command, action: {kind: set, values: {v: "{{ inputs.blob }}"}}}
  - {id: b, type: command, dependencies: [a], action: {kind: set, values: {v: "{{ inputs.blob }}"}}}
`), plan.FormatYAML)
				if err != nil {
					b.Fatal(err)
				}
				compiled, err := plan.Compiler{Limits: plan.Limits{MaxOutputBytes: 4 << 20}}.Compile(def)
				if err != nil {
					b.Fatal(err)
				}
				blob := strings.Repeat("x", size)
				// Each iteration runs `runs` runs at once, so that their
				// outputs are committed in shared batches (group commit).
				runs := 1
				if size < 1<<20 {
					runs = 16
				}
				b.SetBytes(int64(2 * size * runs))
				ctx := context.Background()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					var wg sync.WaitGroup
					errs := make(chan error, runs)
					for range runs {
						wg.Add(1)
						go func() {
							defer wg.Done()
							run, err := eng.StartRun(ctx, compiled, engine.RunOptions{Inputs: map[string]any{"blob": blob}})
							if err == nil {
								run, err = eng.Wait(ctx, run.ID)
							}
							if err == nil && run.Status != models.RunSucceeded {
								err = fmt.Errorf("%s %v", run.Status, run.Error)
							}
							errs <- err
						}()
					}
					wg.Wait()
					close(errs)
					for err := range errs {
						if err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		})
	}
}
