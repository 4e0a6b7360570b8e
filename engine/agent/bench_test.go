package agent_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/baton-run/baton/engine/agent"
)

// BenchmarkDispatchIdleAgent is one command to a connected, idle agent
// that answers at once: routing, the stored delivery (insert and result
// update on SQLite) and the round trip through the connection. It reports
// the p50 and p99 of a dispatch.
func BenchmarkDispatchIdleAgent(b *testing.B) {
	e := newEnv(b, agent.Config{})
	e.connect("a", 1, nil, nil, 0)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := e.hub.Dispatch(context.Background(), req(i)); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkHundredAgents sends 10,000 short commands at once to 100
// agents (4 slots each) and checks that every one came back and was stored
// as succeeded.
func BenchmarkHundredAgents(b *testing.B) {
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		e := newEnv(b, agent.Config{})
		for i := range 100 {
			e.connect(fmt.Sprintf("d%03d", i), 4, nil, nil, 0)
		}
		b.StartTimer()
		const commands = 10000
		var wg sync.WaitGroup
		errs := make(chan error, commands)
		start := time.Now()
		for i := range commands {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.hub.Dispatch(context.Background(), req(i)); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		b.ReportMetric(float64(commands)/time.Since(start).Seconds(), "commands/s")
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		succeeded := 0
		for i := range 100 {
			cmds, err := e.st.ListCommands(context.Background(), fmt.Sprintf("d%03d", i), "", 500)
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range cmds {
				if c.Status == "succeeded" {
					succeeded++
				}
			}
		}
		if succeeded != commands {
			b.Fatalf("%d of %d commands stored as succeeded", succeeded, commands)
		}
	}
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
