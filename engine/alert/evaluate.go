package alert

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/baton-run/baton/models"
)

// The evaluator turns events into actions (raise or resolve an alert)
// without touching the store, so that its cost per event is a few map
// lookups and its logic is testable alone; the Service performs the
// actions. It keeps what it can rebuild from the live stream: recent
// finished runs per template (for rates and baselines) and the runs and
// steps in flight (for durations and stuck steps).

type action struct {
	resolve bool
	rule    int64
	subject string
	summary string
	links   models.AlertLinks
	at      time.Time
}

type sample struct {
	at     time.Time
	before int64 // failed runs before this one: a window's failures are a difference
	failed bool
}

type templateStats struct {
	finished []sample // finished[head:] in order, trimmed to the longest failure_rate window and maxSamples
	head     int      // samples before head are dropped (compacted when they are half)
	failsAll int64
	durs     []float64 // recent durations (ms), for the anomaly baseline
	blocks   []float64 // failure rates of consecutive blocks of blockRuns runs
	inBlock  int
	failsIn  int
	// durStats and blockStats cache the baselines' robust statistics until
	// the next sample changes them.
	durStats, blockStats *robust
	rates                []windowRate
}

type inflight struct {
	template string
	since    time.Time
	raised   map[int64]bool // rules already raised for this run or step
}

type evaluator struct {
	byKind     map[string][]models.AlertRule
	open       map[alertKey]bool
	stats      map[string]*templateStats
	allStats   bool            // some rule watches every template
	statsFor   map[string]bool // else these templates
	maxWindow  time.Duration
	trackRuns  bool
	trackSteps bool
	runs       map[string]*inflight
	steps      map[string]map[string]*inflight // run → step → since
	backlogAt  time.Time
}

const (
	maxSamples    = 2000 // finished runs kept per template for rates
	baselineRuns  = 50   // durations in the anomaly baseline
	minBaseline   = 20   // durations needed before the anomaly rule judges
	blockRuns     = 10   // runs per failure-rate block (anomaly on failure_rate)
	baselineBlock = 20   // blocks in the failure-rate baseline
	minBlocks     = 5
)

func newEvaluator() *evaluator {
	return &evaluator{byKind: map[string][]models.AlertRule{}, open: map[alertKey]bool{}, stats: map[string]*templateStats{},
		statsFor: map[string]bool{}, runs: map[string]*inflight{}, steps: map[string]map[string]*inflight{}}
}

// alertKey names an open alert: its rule and subject (a struct, so a
// lookup allocates nothing).
type alertKey struct {
	rule    int64
	subject string
}

func openKey(rule int64, subject string) alertKey { return alertKey{rule, subject} }

func (e *evaluator) setRules(rules []models.AlertRule, open map[alertKey]bool) {
	e.byKind = map[string][]models.AlertRule{}
	e.allStats, e.statsFor, e.maxWindow = false, map[string]bool{}, 0
	e.trackRuns, e.trackSteps = false, false
	for _, r := range rules {
		if !r.Enabled {
			continue
		}
		e.byKind[r.Condition.Kind] = append(e.byKind[r.Condition.Kind], r)
		switch r.Condition.Kind {
		case models.CondFailureRate, models.CondAnomaly:
			if r.Condition.Template == "" {
				e.allStats = true
			}
			e.statsFor[r.Condition.Template] = true
			e.maxWindow = max(e.maxWindow, window(r))
		case models.CondDurationOver:
			e.trackRuns = true
		case models.CondStepStuck:
			e.trackSteps = true
		}
	}
	e.open = open
	if !e.trackRuns {
		clear(e.runs)
	}
	if !e.trackSteps {
		clear(e.steps)
	}
}

func window(r models.AlertRule) time.Duration {
	if d, err := models.ParseAlertDuration(r.Condition.Window); err == nil && d > 0 {
		return d
	}
	return models.DefaultFailureWindow
}

func matches(r models.AlertRule, template string) bool {
	return r.Condition.Template == "" || r.Condition.Template == template
}

func isFailure(typ string) bool {
	return typ == models.EventRunFailed || typ == models.EventRunTimedOut || typ == models.EventRunRolledBack
}

// observe evaluates one batch of events and returns the actions it calls for.
func (e *evaluator) observe(batch []models.Event, out []action) []action {
	if len(e.byKind) == 0 {
		return out
	}
	for i := range batch {
		ev := &batch[i]
		if ev.Test {
			continue // designers' test runs page nobody
		}
		switch ev.Type {
		case models.EventRunStarted:
			if e.trackRuns {
				e.runs[ev.RunID] = &inflight{template: ev.Template, since: ev.At}
			}
		case models.EventStepStarted, models.EventStepWaiting, models.EventStepRetrying:
			if e.trackSteps && ev.StepID != "" {
				m := e.steps[ev.RunID]
				if m == nil {
					m = map[string]*inflight{}
					e.steps[ev.RunID] = m
				}
				if m[ev.StepID] == nil {
					m[ev.StepID] = &inflight{template: ev.Template, since: ev.At}
				}
			}
		case models.EventStepSucceeded, models.EventStepFailed, models.EventStepSkipped, models.EventStepCancelled,
			models.EventStepTimedOut, models.EventStepCompensated:
			if m := e.steps[ev.RunID]; m != nil {
				delete(m, ev.StepID)
			}
		case models.EventRunSucceeded, models.EventRunFailed, models.EventRunTimedOut, models.EventRunRolledBack, models.EventRunCancelled:
			out = e.finished(ev, out)
		}
	}
	return out
}

// finished evaluates the rules that look at a run's end.
func (e *evaluator) finished(ev *models.Event, out []action) []action {
	var dur float64 = -1
	if ev.DurationMs != nil {
		dur = *ev.DurationMs
	}
	if r := e.runs[ev.RunID]; r != nil {
		if dur < 0 {
			dur = float64(ev.At.Sub(r.since).Milliseconds())
		}
		delete(e.runs, ev.RunID)
	}
	delete(e.steps, ev.RunID)
	if ev.Type == models.EventRunCancelled {
		return out // someone stopped it on purpose: neither a failure nor a sample
	}
	failed := isFailure(ev.Type)
	links := models.AlertLinks{Run: ev.RunID, Template: ev.Template}
	if failed {
		for _, r := range e.byKind[models.CondRunFailed] {
			if matches(r, ev.Template) {
				out = append(out, action{rule: r.ID, subject: ev.Template, links: links, at: ev.At,
					summary: fmt.Sprintf("Run %s of %s ended %s", ev.RunID, ev.Template, ev.Status)})
			}
		}
	}
	if dur >= 0 {
		for _, r := range e.byKind[models.CondDurationOver] {
			if lim := r.Condition.Threshold.Duration(); matches(r, ev.Template) && lim > 0 && dur > float64(lim.Milliseconds()) {
				out = append(out, action{rule: r.ID, subject: ev.Template, links: links, at: ev.At,
					summary: fmt.Sprintf("Run %s of %s took %s, over %s", ev.RunID, ev.Template, msString(dur), lim)})
			}
		}
	}
	if !e.allStats && !e.statsFor[ev.Template] {
		return out
	}
	st := e.stats[ev.Template]
	if st == nil {
		st = &templateStats{}
		e.stats[ev.Template] = st
	}
	// Anomaly first: the new observation is judged against the baseline
	// before it joins it.
	for _, r := range e.byKind[models.CondAnomaly] {
		if r.Condition.Template == ev.Template {
			out = e.anomaly(r, st, ev, dur, failed, links, out)
		}
	}
	st.add(ev.At, failed, dur, e.maxWindow)
	st.rates = st.rates[:0] // rates computed for this run, by window
	for _, r := range e.byKind[models.CondFailureRate] {
		if matches(r, ev.Template) {
			out = e.rate(r, ev.Template, st, ev.At, failed, links, out)
		}
	}
	return out
}

type windowRate struct {
	window time.Duration
	rate   float64
	n      int
}

// seed adds a template's stored finished runs (any order) to its
// statistics, oldest first, unless it has samples already.
func (e *evaluator) seed(template string, runs []models.Run) {
	if e.stats[template] != nil {
		return
	}
	var keep []models.Run
	for _, r := range runs {
		if !r.Test && r.FinishedAt != nil && r.Status != models.RunCancelled {
			keep = append(keep, r)
		}
	}
	sort.Slice(keep, func(i, j int) bool { return keep[i].FinishedAt.Before(*keep[j].FinishedAt) })
	st := &templateStats{}
	for _, r := range keep {
		dur := -1.0
		if r.DurationMs != nil {
			dur = *r.DurationMs
		}
		failed := r.Status == models.RunFailed || r.Status == models.RunTimedOut || r.Status == models.RunRolledBack
		st.add(r.FinishedAt.UTC(), failed, dur, max(e.maxWindow, models.DefaultFailureWindow))
	}
	e.stats[template] = st
}

func (st *templateStats) add(at time.Time, failed bool, dur float64, window time.Duration) {
	st.finished = append(st.finished, sample{at: at, before: st.failsAll, failed: failed})
	if failed {
		st.failsAll++
	}
	for st.head < len(st.finished) && (len(st.finished)-st.head > maxSamples || at.Sub(st.finished[st.head].at) > window) {
		st.head++
	}
	if st.head > len(st.finished)/2 {
		st.finished = append(st.finished[:0], st.finished[st.head:]...)
		st.head = 0
	}
	st.durStats, st.blockStats = nil, nil
	if dur >= 0 {
		st.durs = append(st.durs, dur)
		if len(st.durs) > baselineRuns {
			st.durs = append(st.durs[:0], st.durs[1:]...)
		}
	}
	st.inBlock++
	if failed {
		st.failsIn++
	}
	if st.inBlock == blockRuns {
		st.blocks = append(st.blocks, float64(st.failsIn)/blockRuns)
		if len(st.blocks) > baselineBlock+1 {
			st.blocks = append(st.blocks[:0], st.blocks[1:]...)
		}
		st.inBlock, st.failsIn = 0, 0
	}
}

// rateOf returns the share of failed runs since at-window, and their
// count: a binary search for the window's first run, then a difference of
// running totals, so a rule costs O(log n) per run however busy the
// template.
func (st *templateStats) rateOf(at time.Time, window time.Duration) (rate float64, n int) {
	live := st.finished[st.head:]
	i := sort.Search(len(live), func(i int) bool { return at.Sub(live[i].at) <= window })
	n = len(live) - i
	if n == 0 {
		return 0, 0
	}
	fails := st.failsAll - live[i].before
	return float64(fails) / float64(n), n
}

// rate evaluates a failure_rate rule for one template at at.
func (e *evaluator) rate(r models.AlertRule, template string, st *templateStats, at time.Time, failed bool, links models.AlertLinks, out []action) []action {
	w := window(r)
	rate, n, cached := 0.0, 0, false
	for _, wr := range st.rates {
		if wr.window == w {
			rate, n, cached = wr.rate, wr.n, true
			break
		}
	}
	if !cached {
		rate, n = st.rateOf(at, w)
		st.rates = append(st.rates, windowRate{w, rate, n})
	}
	minRuns := r.Condition.MinRuns
	if minRuns == 0 {
		minRuns = models.DefaultMinRuns
	}
	key := openKey(r.ID, template)
	over := n >= minRuns && rate > r.Condition.Threshold.Num
	switch {
	case over && (!e.open[key] || failed):
		e.open[key] = true
		out = append(out, action{rule: r.ID, subject: template, links: links, at: at,
			summary: fmt.Sprintf("%.0f %% of %d runs of %s failed in the last %s (threshold %.0f %%)", rate*100, n, template, w, r.Condition.Threshold.Num*100)})
	case !over && e.open[key] && n >= minRuns:
		delete(e.open, key)
		out = append(out, action{resolve: true, rule: r.ID, subject: template, at: at})
	}
	return out
}

// anomaly judges one finished run against the template's baseline.
func (e *evaluator) anomaly(r models.AlertRule, st *templateStats, ev *models.Event, dur float64, failed bool, links models.AlertLinks, out []action) []action {
	sens := r.Condition.Sensitivity
	if sens == 0 {
		sens = models.DefaultAnomalySensitivity
	}
	key := openKey(r.ID, ev.Template)
	var z float64
	var judged bool
	var what func() string
	switch r.Condition.Metric {
	case "failure_rate":
		// Judged when this run completes a block.
		if st.inBlock+1 != blockRuns || len(st.blocks) < minBlocks {
			return out
		}
		fails := st.failsIn
		if failed {
			fails++
		}
		x := float64(fails) / blockRuns
		if st.blockStats == nil {
			r := robustOf(st.blocks)
			st.blockStats = &r
		}
		z = st.blockStats.z(x, 0.2)
		judged = true
		what = func() string { return fmt.Sprintf("failure rate %.0f %% over the last %d runs", x*100, blockRuns) }
	default:
		if dur < 0 || len(st.durs) < minBaseline {
			return out
		}
		if st.durStats == nil {
			r := robustOf(st.durs)
			st.durStats = &r
		}
		z = abs(st.durStats.z(dur, 0.1*st.durStats.med))
		judged = true
		med := st.durStats.med
		what = func() string { return fmt.Sprintf("run %s took %s (usual %s)", ev.RunID, msString(dur), msString(med)) }
	}
	if !judged {
		return out
	}
	switch {
	case z > sens:
		e.open[key] = true
		out = append(out, action{rule: r.ID, subject: ev.Template, links: links, at: ev.At,
			summary: fmt.Sprintf("%s left its baseline: %s, robust z-score %.1f > %.1f", ev.Template, what(), z, sens)})
	case e.open[key]:
		delete(e.open, key)
		out = append(out, action{resolve: true, rule: r.ID, subject: ev.Template, at: ev.At})
	}
	return out
}

// periodic evaluates the rules that depend on time passing: runs and steps
// in flight too long, failure rates whose window moved on.
func (e *evaluator) periodic(now time.Time, out []action) []action {
	for _, r := range e.byKind[models.CondDurationOver] {
		lim := r.Condition.Threshold.Duration()
		for id, run := range e.runs {
			if matches(r, run.template) && lim > 0 && now.Sub(run.since) > lim && !run.raised[r.ID] {
				if run.raised == nil {
					run.raised = map[int64]bool{}
				}
				run.raised[r.ID] = true
				out = append(out, action{rule: r.ID, subject: run.template, at: now, links: models.AlertLinks{Run: id, Template: run.template},
					summary: fmt.Sprintf("Run %s of %s has been running for %s, over %s", id, run.template, now.Sub(run.since).Round(time.Second), lim)})
			}
		}
	}
	for _, r := range e.byKind[models.CondStepStuck] {
		lim := r.Condition.Threshold.Duration()
		stuck := map[string]bool{}
		for runID, m := range e.steps {
			for stepID, st := range m {
				if stepID != r.Condition.Step || !matches(r, st.template) || lim <= 0 || now.Sub(st.since) <= lim {
					continue
				}
				subject := st.template + "/" + stepID
				stuck[subject] = true
				if !st.raised[r.ID] {
					if st.raised == nil {
						st.raised = map[int64]bool{}
					}
					st.raised[r.ID] = true
					e.open[openKey(r.ID, subject)] = true
					out = append(out, action{rule: r.ID, subject: subject, at: now, links: models.AlertLinks{Run: runID, Template: st.template},
						summary: fmt.Sprintf("Step %s of run %s (%s) has been running or waiting for %s, over %s", stepID, runID, st.template, now.Sub(st.since).Round(time.Second), lim)})
				}
			}
		}
		out = e.resolveOthers(r.ID, stuck, now, out)
	}
	for _, r := range e.byKind[models.CondFailureRate] {
		for tmpl, st := range e.stats {
			if matches(r, tmpl) && e.open[openKey(r.ID, tmpl)] {
				out = e.rate(r, tmpl, st, now, false, models.AlertLinks{Template: tmpl}, out)
			}
		}
	}
	return out
}

// resolveOthers resolves the open alerts of rule whose subject is not in keep.
func (e *evaluator) resolveOthers(rule int64, keep map[string]bool, now time.Time, out []action) []action {
	for key := range e.open {
		if key.rule == rule && !keep[key.subject] {
			delete(e.open, key)
			out = append(out, action{resolve: true, rule: rule, subject: key.subject, at: now})
		}
	}
	return out
}

// level evaluates a rule on a condition that holds or not right now
// (database, backlog): raise once while it holds, resolve when it clears.
func (e *evaluator) level(r models.AlertRule, subject string, holds bool, summary string, links models.AlertLinks, now time.Time, out []action) []action {
	key := openKey(r.ID, subject)
	switch {
	case holds && !e.open[key]:
		e.open[key] = true
		out = append(out, action{rule: r.ID, subject: subject, summary: summary, links: links, at: now})
	case !holds && e.open[key]:
		delete(e.open, key)
		out = append(out, action{resolve: true, rule: r.ID, subject: subject, at: now})
	}
	return out
}

// Observe evaluates a batch of the engine's events and performs what the
// rules call for; it reports whether any alert was raised or resolved.
func (s *Service) Observe(ctx context.Context, batch []models.Event) bool {
	s.mu.Lock()
	acts := s.eval.observe(batch, nil)
	s.mu.Unlock()
	return s.perform(ctx, acts)
}

// perform raises and resolves: a new alert is written at once (its first
// escalation step is due now); a repeat of a stored open alert is counted
// and written with the next tick (see Service.known).
func (s *Service) perform(ctx context.Context, acts []action) bool {
	wrote := false
	for _, a := range acts {
		key := openKey(a.rule, a.subject)
		if a.resolve {
			s.mu.Lock()
			delete(s.known, key)
			delete(s.pending, key)
			s.mu.Unlock()
			if _, err := s.store.ResolveOpenAlert(ctx, a.rule, a.subject, a.at); err != nil {
				s.log.Warn("alert not resolved", "rule", a.rule, "subject", a.subject, "err", err)
			}
			wrote = true
			continue
		}
		in := models.AlertRaise{Rule: a.rule, Subject: a.subject, Summary: a.summary, Links: a.links, At: a.at, Count: 1}
		s.mu.Lock()
		if s.known[key] {
			if p := s.pending[key]; p != nil {
				in.Count += p.Count
			}
			s.pending[key] = &in
			s.mu.Unlock()
			continue
		}
		s.mu.Unlock()
		s.raise(ctx, in)
		wrote = true
	}
	return wrote
}

// EvaluatePeriodic runs the rules that depend on time and stored state:
// runs and steps in flight too long, windows moving on, reviews waiting,
// devices offline, the backlog and the database.
func (s *Service) EvaluatePeriodic(ctx context.Context) {
	now := s.Now()
	s.mu.Lock()
	acts := s.eval.periodic(now, nil)
	rules := s.eval.byKind
	s.mu.Unlock()

	if rs := rules[models.CondReviewWaiting]; len(rs) > 0 {
		waiting, err := s.store.VersionsWaitingReview(ctx)
		if err != nil {
			s.log.Warn("review_waiting not evaluated", "err", err)
		} else {
			s.mu.Lock()
			for _, r := range rs {
				keep := map[string]bool{}
				for _, v := range waiting {
					if !matches(r, v.Template) || now.Sub(v.SubmittedAt) <= r.Condition.Threshold.Duration() {
						continue
					}
					subject := fmt.Sprintf("%s v%d", v.Template, v.Version)
					keep[subject] = true
					acts = s.eval.level(r, subject, true, fmt.Sprintf("Version %d of %s by %s has waited for review since %s (%d of %d approvals)",
						v.Version, v.Template, v.Author, v.SubmittedAt.Format(time.RFC3339), v.Approvals, v.RequiredApprovals),
						models.AlertLinks{Template: v.Template}, now, acts)
				}
				acts = s.eval.resolveOthers(r.ID, keep, now, acts)
			}
			s.mu.Unlock()
		}
	}
	if rs := rules[models.CondDeviceOffline]; len(rs) > 0 && s.cfg.Devices != nil {
		devices, err := s.cfg.Devices(ctx)
		if err != nil {
			s.log.Warn("device_offline not evaluated", "err", err)
		} else {
			s.mu.Lock()
			for _, r := range rs {
				keep := map[string]bool{}
				for _, d := range devices {
					if r.Condition.Device != "" && r.Condition.Device != d.Name {
						continue
					}
					// Offline since its last message; a device that never
					// connected is not missing, only not set up yet.
					if d.Status != models.DeviceOffline || d.LastSeen == nil || now.Sub(*d.LastSeen) <= r.Condition.Threshold.Duration() {
						continue
					}
					subject := "device " + d.Name
					keep[subject] = true
					acts = s.eval.level(r, subject, true, fmt.Sprintf("Device %s has been offline since %s", d.Name, d.LastSeen.Format(time.RFC3339)),
						models.AlertLinks{}, now, acts)
				}
				acts = s.eval.resolveOthers(r.ID, keep, now, acts)
			}
			s.mu.Unlock()
		}
	}
	s.mu.Lock()
	if s.cfg.Healthy != nil {
		err := s.cfg.Healthy()
		for _, r := range rules[models.CondDatabaseDown] {
			msg := ""
			if err != nil {
				msg = "The engine has suspended runs because commits fail: " + err.Error()
			}
			acts = s.eval.level(r, "database", err != nil, msg, models.AlertLinks{}, now, acts)
		}
	}
	if s.cfg.Backlog != nil && len(rules[models.CondBacklog]) > 0 {
		n := s.cfg.Backlog()
		for _, r := range rules[models.CondBacklog] {
			over := float64(n) > r.Condition.Threshold.Num
			if !over {
				s.eval.backlogAt = time.Time{}
			} else if s.eval.backlogAt.IsZero() {
				s.eval.backlogAt = now
			}
			hold, _ := models.ParseAlertDuration(r.Condition.For)
			holds := over && now.Sub(s.eval.backlogAt) >= hold
			acts = s.eval.level(r, "backlog", holds, fmt.Sprintf("%d steps queued, over %.0f for %s", n, r.Condition.Threshold.Num, hold), models.AlertLinks{}, now, acts)
		}
	}
	s.mu.Unlock()
	if s.perform(ctx, acts) {
		s.Kick()
	}
}

func msString(ms float64) string {
	return time.Duration(ms * float64(time.Millisecond)).Round(time.Millisecond).String()
}
