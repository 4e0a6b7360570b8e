package plan

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hostileYAML are the documents of issue 12, each at most 1 MiB (the
// definition size limit), that used to take seconds and gigabytes.
func hostileYAML() map[string][]byte {
	var keys strings.Builder
	keys.WriteString("id: x\nname: X\noutputs:\n")
	for i := range 50_000 {
		fmt.Fprintf(&keys, "  k%d: v\n", i)
	}
	bomb := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		bomb += n + ": &" + n + " [" + strings.Repeat("*"+prev+", ", 9) + "*" + prev + "]\n"
		prev = n
	}
	var flat strings.Builder // many small maps: under every limit, the largest honest-looking shape
	flat.WriteString("id: x\nname: X\noutputs:\n")
	for i := 0; flat.Len() < 1<<20-200; i++ {
		fmt.Fprintf(&flat, "  m%d: {a: 1, b: 2}\n", i)
	}
	return map[string][]byte{
		"NestedBrackets100KB": []byte(strings.Repeat("[", 100_000)),
		"Keys50000OneMap":     []byte(keys.String()),
		"AliasBomb":           []byte(bomb),
		"ManySmallMaps1MiB":   []byte(flat.String()),
	}
}

// BenchmarkParseHostileYAML reports, besides time, the bytes allocated
// per parse (alloc-B/parse) and the peak of live heap objects seen while
// parsing, above what was live before (peak-heap-B, sampled every
// 100 µs), for the ceiling stated in docs/security.md.
//
//	go test -run='^$' -bench=ParseHostileYAML -benchmem ./engine/plan
func BenchmarkParseHostileYAML(b *testing.B) {
	for name, data := range hostileYAML() {
		b.Run(name, func(b *testing.B) {
			var before, after runtime.MemStats
			runtime.GC()
			base := heapObjects()
			stop := make(chan struct{})
			var peak atomic.Uint64
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					if h := heapObjects(); h > peak.Load() {
						peak.Store(h)
					}
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Microsecond):
					}
				}
			}()
			runtime.ReadMemStats(&before)
			b.ReportAllocs()
			for b.Loop() {
				_, _ = Compiler{}.ParseAndCompile(data, FormatYAML)
			}
			runtime.ReadMemStats(&after)
			close(stop)
			<-done
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N), "alloc-B/parse")
			b.ReportMetric(float64(max(peak.Load(), base)-base), "peak-heap-B")
		})
	}
}

// heapObjects is the bytes of heap objects, live or not yet swept.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
