package schedule

import (
	"testing"
	"time"

	"github.com/go-co-op/gocron/v2"
)

// BenchmarkMissedFires walks the worst window a start may meet: a
// per-second cron over the default 7-day window (604,800 fire times), for
// a schedule with policy "all".
func BenchmarkMissedFires(b *testing.B) {
	tab, sec := crontab("* * * * * *", "Europe/Berlin")
	spec := gocron.NewDefaultCron(sec)
	until := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	if err := spec.IsValid(tab, time.UTC, until); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		missed, total, _ := missedFires(spec, time.Time{}, until, DefaultCatchUpWindow, DefaultCatchUpLimit)
		if total != 7*24*3600 || len(missed) != DefaultCatchUpLimit || !missed[len(missed)-1].Equal(until) {
			b.Fatalf("%d missed, %d kept, last %v", total, len(missed), missed[len(missed)-1])
		}
	}
}
