package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/baton-run/baton/models"
)

// decisionPage is the number of runs DecisionRecords reads at a time.
const decisionPage = 500

// refPattern finds what an expression reads: inputs.NAME and steps.ID.
var refPattern = regexp.MustCompile(`\b(inputs|steps)\.([A-Za-z_][A-Za-z0-9_-]*)`)

// condInfo is a definition's condition steps and what each reads.
type condInfo struct {
	steps map[string][]ref // condition step id → its references
}

type ref struct{ kind, name string }

func parseConds(def []byte) condInfo {
	ci := condInfo{steps: map[string][]ref{}}
	var d models.Definition
	if json.Unmarshal(def, &d) != nil {
		return ci
	}
	named := map[string]string{}
	for _, c := range d.Conditions {
		named[c.ID] = c.Expression
	}
	for _, st := range d.Steps {
		if st.Type != models.StepCondition {
			continue
		}
		text := st.Action.Expression + " " + named[st.Action.Condition]
		for _, c := range st.Action.Cases {
			text += " " + c.When
		}
		seen := map[ref]bool{}
		refs := []ref{}
		for _, m := range refPattern.FindAllStringSubmatch(text, -1) {
			r := ref{m[1], m[2]}
			if !seen[r] {
				seen[r] = true
				refs = append(refs, r)
			}
		}
		ci.steps[st.ID] = refs
	}
	return ci
}

// DecisionRecords calls fn with every evaluation of a condition step in the
// stored (not yet pruned) runs of f.Template that finished in f's range, in
// finish order: the values its expression read (the inputs and step
// outputs it names), its outcome and how the run ended.
func (s *Store) DecisionRecords(ctx context.Context, f models.AnalyticsFilter, fn func(models.DecisionRecord) error) error {
	if f.Template == "" {
		return models.Problems("a template is required", []models.Problem{{Path: "template", Message: "name the template whose decisions to export"}})
	}
	if err := stepFilterError(models.AnalyticsFilter{Trigger: f.Trigger, User: f.User}); err != nil {
		return err
	}
	afterT, afterID := utc(f.From), ""
	first := true
	defs := map[string]condInfo{}
	for {
		q := `SELECT id, version, status, test, finished_at, inputs FROM runs
 WHERE template = ? AND finished_at < ? AND ` + finalSQL
		args := []any{f.Template, utc(f.To)}
		if first {
			q += " AND finished_at >= ?"
			args = append(args, afterT)
		} else {
			q += " AND (finished_at > ? OR (finished_at = ? AND id > ?))"
			args = append(args, afterT, afterT, afterID)
		}
		if f.Version > 0 {
			q += " AND version = ?"
			args = append(args, f.Version)
		}
		if f.Status != "" {
			q += " AND status = ?"
			args = append(args, string(f.Status))
		}
		if !f.Test {
			q += " AND test = ?"
			args = append(args, false)
		}
		q += " ORDER BY finished_at, id LIMIT ?"
		args = append(args, decisionPage)
		type runInfo struct {
			id, status string
			version    int
			test       bool
			fin        time.Time
			inputs     map[string]any
		}
		rows, err := s.readDB.QueryContext(ctx, s.rebind(q), args...)
		if err != nil {
			return s.rawErr(err, "decision runs")
		}
		var page []runInfo
		for rows.Next() {
			var r runInfo
			var fin sql.NullTime
			var in []byte
			if err := rows.Scan(&r.id, &r.version, &r.status, &r.test, &fin, &in); err != nil {
				_ = rows.Close()
				return s.rawErr(err, "decision runs")
			}
			r.fin = fin.Time.UTC()
			_ = json.Unmarshal(in, &r.inputs)
			page = append(page, r)
		}
		_ = rows.Close()
		if err := rows.Err(); err != nil {
			return s.rawErr(err, "decision runs")
		}
		if len(page) == 0 {
			return nil
		}
		first = false
		afterT, afterID = page[len(page)-1].fin, page[len(page)-1].id
		// The condition steps of each run's definition (one read per
		// version; test runs each carry their own draft).
		conds := make([]condInfo, len(page))
		for i, r := range page {
			key := r.id
			if !r.test {
				key = "v" + strconv.Itoa(r.version)
			}
			ci, ok := defs[key]
			if !ok {
				var def []byte
				if err := s.readDB.QueryRowContext(ctx, s.rebind("SELECT definition FROM runs WHERE id = ?"), r.id).Scan(&def); err != nil {
					return s.rawErr(err, "definition")
				}
				ci = parseConds(def)
				if !r.test {
					defs[key] = ci
				}
			}
			conds[i] = ci
		}
		ids := make([]any, 0, len(page)+1)
		for _, r := range page {
			ids = append(ids, r.id)
		}
		type attempt struct {
			attempt int
			status  string
			started *time.Time
			output  []byte
		}
		latest := map[[2]string]attempt{}
		rows, err = s.readDB.QueryContext(ctx, s.rebind("SELECT run_id, step_id, attempt, status, started_at, output FROM step_runs WHERE run_id IN "+
			inList(len(page))+" AND item = -1 AND compensation = ?"), append(ids, false)...)
		if err != nil {
			return s.rawErr(err, "decision steps")
		}
		for rows.Next() {
			var runID, step string
			var a attempt
			var st sql.NullTime
			if err := rows.Scan(&runID, &step, &a.attempt, &a.status, &st, &a.output); err != nil {
				_ = rows.Close()
				return s.rawErr(err, "decision steps")
			}
			if st.Valid {
				t := st.Time.UTC()
				a.started = &t
			}
			k := [2]string{runID, step}
			if prev, ok := latest[k]; !ok || a.attempt > prev.attempt {
				latest[k] = a
			}
		}
		_ = rows.Close()
		if err := rows.Err(); err != nil {
			return s.rawErr(err, "decision steps")
		}
		for i, r := range page {
			steps := make([]string, 0, len(conds[i].steps))
			for id := range conds[i].steps {
				steps = append(steps, id)
			}
			sort.Strings(steps)
			for _, step := range steps {
				a, ok := latest[[2]string{r.id, step}]
				if !ok {
					continue
				}
				outcome := decisionOutcome(a.status, a.output)
				if outcome == "" {
					continue
				}
				read := map[string]any{}
				for _, rf := range conds[i].steps[step] {
					if rf.kind == "inputs" {
						read["inputs."+rf.name] = r.inputs[rf.name]
						continue
					}
					var out any
					if o, ok := latest[[2]string{r.id, rf.name}]; ok {
						_ = json.Unmarshal(o.output, &out)
					}
					read["steps."+rf.name+".output"] = out
				}
				inputs := r.inputs
				if inputs == nil {
					inputs = map[string]any{}
				}
				rec := models.DecisionRecord{RunID: r.id, Template: f.Template, Version: r.version, Step: step, At: a.started,
					Inputs: inputs, Read: read, Outcome: outcome, RunStatus: models.RunStatus(r.status)}
				if err := fn(rec); err != nil {
					return err
				}
			}
		}
		if len(page) < decisionPage {
			return nil
		}
	}
}
