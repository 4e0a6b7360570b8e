package handlers

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/views"
)

// gantt lays out a run's attempts on a timeline 800 units wide; without
// attempt rows it uses each step's own start and finish. Rows follow the
// steps' start order (steps sorted by stepsInRunOrder); steps that have not
// started get an empty row at the end, so the chart lists the whole workflow.
func gantt(run models.Run, steps []models.StepState, def *models.Definition, attempts []models.StepRunRow) views.GanttView {
	const width = 800.0
	g := views.GanttView{Width: width}
	if run.StartedAt == nil {
		return g
	}
	start := *run.StartedAt
	end := time.Now()
	if run.FinishedAt != nil {
		end = *run.FinishedAt
	}
	type span struct {
		row      int
		label    string
		from, to time.Time
		status   string
		title    string
	}
	var spans []span
	rows := map[string]int{}
	rowOf := func(label, stepID string) int {
		if r, ok := rows[label]; ok {
			return r
		}
		name := cmp.Or(stepName(def, stepID), stepID)
		if label != stepID { // a compensation row
			name += " (compensation)"
		}
		rows[label] = len(g.Labels)
		g.Labels = append(g.Labels, views.GanttLabel{Name: name, ID: label})
		return rows[label]
	}
	order := definitionOrder(def)
	finish := func(t *time.Time) time.Time {
		if t == nil {
			return end
		}
		return *t
	}
	if len(attempts) > 0 {
		// Rows in the order steps started, so the chart reads top to bottom.
		attempts = slices.Clone(attempts)
		slices.SortStableFunc(attempts, func(x, y models.StepRunRow) int {
			switch {
			case x.StartedAt == nil && y.StartedAt == nil:
				return 0
			case x.StartedAt == nil:
				return 1
			case y.StartedAt == nil:
				return -1
			case x.StartedAt.Before(*y.StartedAt):
				return -1
			case y.StartedAt.Before(*x.StartedAt):
				return 1
			}
			if x.Order != y.Order {
				return x.Order - y.Order
			}
			return cmp.Compare(order(x.StepID), order(y.StepID))
		})
		for _, a := range attempts {
			if a.StartedAt == nil {
				continue
			}
			label := a.StepID
			if a.Compensation {
				label += " (compensation)"
			}
			to := finish(a.FinishedAt)
			spans = append(spans, span{rowOf(label, a.StepID), label, *a.StartedAt, to, string(a.Status),
				fmt.Sprintf("%s attempt %d: %s, %s", a.StepID, a.Attempt, a.Status, to.Sub(*a.StartedAt).Round(time.Millisecond))})
		}
	} else {
		for _, st := range steps {
			if st.StartedAt == nil {
				continue
			}
			to := finish(st.FinishedAt)
			spans = append(spans, span{rowOf(st.ID, st.ID), st.ID, *st.StartedAt, to, string(st.Status),
				fmt.Sprintf("%s: %s, %s", st.ID, st.Status, to.Sub(*st.StartedAt).Round(time.Millisecond))})
		}
	}
	for _, st := range steps {
		if st.StartedAt == nil {
			rowOf(st.ID, st.ID)
		}
	}
	for _, sp := range spans {
		if sp.to.After(end) {
			end = sp.to
		}
	}
	total := end.Sub(start)
	if total <= 0 {
		total = time.Millisecond
	}
	g.Span = total.Round(time.Millisecond).String()
	for _, sp := range spans {
		x := width * float64(sp.from.Sub(start)) / float64(total)
		w := width * float64(sp.to.Sub(sp.from)) / float64(total)
		// A bar stays visible however short the attempt.
		g.Bars = append(g.Bars, views.GanttBar{Row: sp.row, Label: sp.label, X: max(x, 0), W: max(w, 3), Status: sp.status, Title: sp.title})
	}
	return g
}
