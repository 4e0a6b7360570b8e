package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store/storetest"
)

// BenchmarkReviewCycle measures one whole review: save a draft, submit,
// approve (four transactions, each holding the template lock).
func BenchmarkReviewCycle(b *testing.B) {
	for _, db := range storetest.Databases(b) {
		b.Run(db.Name, func(b *testing.B) {
			st := db.Open(b)
			ctx := context.Background()
			storetest.MustCreateTemplate(b, st, "bench", "dana")
			storetest.MustApprove(b, st, "bench", 1, "dana", "carl")
			def := storetest.Def("bench", "Bench", "a", "b", "c")
			n := 1
			for b.Loop() {
				n++
				if _, err := st.SaveDraft(ctx, "bench", def, "dana"); err != nil {
					b.Fatalf("save: %v", err)
				}
				storetest.MustApprove(b, st, "bench", n, "dana", "carl")
			}
		})
	}
}

// BenchmarkClaimScheduleFire measures one won claim.
func BenchmarkClaimScheduleFire(b *testing.B) {
	for _, db := range storetest.Databases(b) {
		b.Run(db.Name, func(b *testing.B) {
			st := db.Open(b)
			ctx := context.Background()
			storetest.MustCreateTemplate(b, st, "bench", "dana")
			sc, err := st.CreateSchedule(ctx, "bench", models.Schedule{Cron: "* * * * *", Enabled: true}, "dana")
			if err != nil {
				b.Fatalf("schedule: %v", err)
			}
			at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for b.Loop() {
				at = at.Add(time.Minute)
				won, err := st.ClaimScheduleFire(ctx, sc.ID, at)
				if err != nil || !won {
					b.Fatalf("claim: %v, %v", won, err)
				}
			}
		})
	}
}

// BenchmarkListTemplates measures one page of 50 out of 1,000 templates,
// filtered by a search term.
func BenchmarkListTemplates(b *testing.B) {
	for _, db := range storetest.Databases(b) {
		b.Run(db.Name, func(b *testing.B) {
			st := db.Open(b)
			ctx := context.Background()
			for i := range 1000 {
				storetest.MustCreateTemplate(b, st, fmt.Sprintf("tpl-%04d", i), "dana")
			}
			for b.Loop() {
				page, err := st.ListTemplates(ctx, models.TemplateFilter{Search: "tpl-0", Limit: 50})
				if err != nil || len(page.Templates) != 50 {
					b.Fatalf("list: %d, %v", len(page.Templates), err)
				}
			}
		})
	}
}
