package schedule

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/go-co-op/gocron/v2"
)

// CatchUp fires, for each armed schedule, the fire times missed while no
// instance was running, as its catch-up policy says: none, the most recent
// one ("latest"), or each one oldest first ("all", at most CatchUpLimit, the
// most recent ones). Missed times are those after the schedule's latest
// claimed fire (or its last change, when later: a schedule that was
// disabled or changed since misses nothing before that) and up to the time
// it was armed, within CatchUpWindow. Each goes through Fire: claimed once
// across instances, with the overlap policy applied. Start calls it; it
// returns when done or when ctx ends.
func (s *Scheduler) CatchUp(ctx context.Context) {
	s.mu.Lock()
	ents := make([]*cronEntry, 0, len(s.jobs))
	for _, ent := range s.jobs {
		ents = append(ents, ent)
	}
	s.mu.Unlock()
	for _, ent := range ents {
		if ctx.Err() != nil {
			return
		}
		ent.mu.Lock()
		sc := ent.sched
		ent.mu.Unlock()
		if sc.CatchUp != models.CatchUpLatest && sc.CatchUp != models.CatchUpAll {
			continue
		}
		if err := s.catchUp(ctx, sc, ent); err != nil && ctx.Err() == nil {
			s.log.Error("schedule catch-up", "schedule", sc.ID, "template", sc.Template, "err", err)
		}
	}
}

func (s *Scheduler) catchUp(ctx context.Context, sc models.Schedule, ent *cronEntry) error {
	after, err := s.lastHandled(ctx, sc)
	if err != nil {
		return err
	}
	limit := s.cfg.CatchUpLimit
	if sc.CatchUp == models.CatchUpLatest {
		limit = 1
	}
	missed, total, windowStart := missedFires(ent.spec, after, ent.armedAt, s.cfg.CatchUpWindow, limit)
	if total == 0 {
		return nil
	}
	s.log.Info("schedule catching up missed fire times", "schedule", sc.ID, "template", sc.Template,
		"policy", string(sc.CatchUp), "missed", total, "firing", len(missed), "from", missed[0], "to", missed[len(missed)-1],
		"last_handled", after, "window_start", windowStart)
	for _, at := range missed {
		if _, err := s.fire(ctx, sc, at, true); err != nil {
			if ctx.Err() != nil {
				return err
			}
			// One failed start (say, the template lost its approved
			// version) is logged; the other missed times still get theirs.
			s.log.Error("schedule fire", "schedule", sc.ID, "template", sc.Template, "fire_at", at, "caught_up", true, "err", err)
		}
	}
	return nil
}

// lastHandled is the time after which a schedule's fire times count as
// missed: its latest claimed fire (skipped ones too), its LastFireAt (which
// outlives pruned claims), or its last change, whichever is latest.
func (s *Scheduler) lastHandled(ctx context.Context, sc models.Schedule) (time.Time, error) {
	after := sc.UpdatedAt
	if sc.LastFireAt != nil && sc.LastFireAt.After(after) {
		after = *sc.LastFireAt
	}
	fires, err := s.src.ScheduleFires(ctx, sc.ID, 1)
	if err != nil {
		return time.Time{}, fmt.Errorf("read the latest fire of schedule %d: %w", sc.ID, err)
	}
	if len(fires) > 0 && fires[0].FireAt.After(after) {
		after = fires[0].FireAt
	}
	return after.UTC(), nil
}

// missedFires returns the fire times of spec after after and up to until,
// no older than window before until: the latest limit of them, oldest
// first, with how many there were in all and where the window began.
func missedFires(spec gocron.Cron, after, until time.Time, window time.Duration, limit int) (latest []time.Time, total int, windowStart time.Time) {
	windowStart = until.Add(-window)
	from := after
	if from.Before(windowStart) {
		from = windowStart
	}
	ring := make([]time.Time, 0, min(limit, 1024))
	next := 0 // where the next time goes once ring is full
	for t, steps := spec.Next(from), 0; !t.IsZero() && !t.After(until) && steps < maxCatchUpSteps; t, steps = spec.Next(t), steps+1 {
		total++
		if len(ring) < limit {
			ring = append(ring, t.UTC())
			continue
		}
		ring[next] = t.UTC()
		next = (next + 1) % limit
	}
	latest = slices.Concat(ring[next:], ring[:next])
	return latest, total, windowStart
}
