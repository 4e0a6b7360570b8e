package store

import (
	"context"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/baton-run/baton/models"
)

// The reads behind a version's evidence (engine/evidence): the newest
// finished production runs of a template with their steps, and a cheap probe
// of the newest one, which tells a cached answer that it is stale.

// replayedStatuses are the final statuses of runs that evidence replays:
// a cancelled or timed-out run was stopped by a person or the clock, which
// a replay cannot know. Literals, so both planners see them.
var replayedStatuses = "status IN ('" + strings.Join([]string{
	string(models.RunSucceeded), string(models.RunFailed), string(models.RunRolledBack)}, "', '") + "')"

// productionRuns selects the finished production runs (not test runs) of
// template, newest finish first: an index walk of runs_template_finished
// (template, finished_at) backwards.
func (s *Store) productionRuns(ctx context.Context, template string) *gorm.DB {
	return s.read.WithContext(ctx).Model(&runRow{}).
		Where("template = ? AND finished_at IS NOT NULL AND test = ? AND "+replayedStatuses, template, false).
		Order("finished_at DESC")
}

// RecentProductionRuns returns the newest limit (1 to 500) finished
// production runs of template, newest first, each with its definition and
// the step-level attempts (not forEach elements' nor compensations'), for
// replay. Timers and signals are not read.
func (s *Store) RecentProductionRuns(ctx context.Context, template string, limit int) ([]models.RunSnapshot, error) {
	limit = min(max(limit, 1), 500)
	var rows []runRow
	if err := s.productionRuns(ctx, template).Limit(limit).Find(&rows).Error; err != nil {
		return nil, mapErr(err, "runs of "+template)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	ids := make([]string, len(rows))
	at := make(map[string]int, len(rows))
	out := make([]models.RunSnapshot, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
		at[rows[i].ID] = i
		out[i].Run = rows[i].model()
	}
	var steps []stepRunRow
	// In the primary key's order per run (step, attempt); no ORDER BY, so
	// neither database sorts what the replay reads as a map anyway.
	err := s.read.WithContext(ctx).Where("run_id IN ? AND item = -1 AND compensation = ?", ids, false).
		Find(&steps).Error
	if err != nil {
		return nil, mapErr(err, "step attempts of "+template)
	}
	for i := range steps {
		j := at[steps[i].RunID]
		out[j].StepRuns = append(out[j].StepRuns, steps[i].model())
	}
	return out, nil
}

// LatestProductionRun names the newest finished production run of template
// and when it finished ("" and the zero time when there is none): one index
// lookup, so a cache may call it on every read.
func (s *Store) LatestProductionRun(ctx context.Context, template string) (string, time.Time, error) {
	var rows []runRow
	if err := s.productionRuns(ctx, template).Select("id, finished_at").Limit(1).Find(&rows).Error; err != nil {
		return "", time.Time{}, mapErr(err, "runs of "+template)
	}
	if len(rows) == 0 || rows[0].FinishedAt == nil {
		return "", time.Time{}, nil
	}
	return rows[0].ID, rows[0].FinishedAt.UTC(), nil
}
