package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/actions"
	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// cmdRun runs one definition file with the embedded engine: progress on
// stderr, the run record on stdout with --json; exit 0 when the run
// succeeded, 1 when it did not, 2 for bad usage or an invalid definition.
//
// Extensions beyond the spec: --db keeps the run in a database (default: a
// temporary SQLite file, removed at the end), --resume continues an
// unfinished run of that database (after a crash), and --signal delivers a
// signal to the run as soon as it starts.
func cmdRun(ctx context.Context, e *env, args []string) (err error) {
	fs := flag.NewFlagSet("baton run", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var inputs, signals listFlag
	fs.Var(&inputs, "input", "an input as `name=value` (repeatable); the value is read as JSON unless the input is a string")
	inputsJSON := fs.String("inputs", "", "inputs as one JSON `object`")
	asJSON := fs.Bool("json", false, "print the final run record as JSON on stdout")
	dbURL := fs.String("db", "", "keep the run in this database `URL` (default: a temporary SQLite file, removed at the end)")
	resume := fs.String("resume", "", "continue the unfinished run `ID` kept in --db")
	fs.Var(&signals, "signal", "deliver a signal as `name=json` when the run starts (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "Usage: baton run FILE [--input k=v]… [--inputs '{json}'] [--json]")
		fmt.Fprintln(e.stderr)
		fmt.Fprintln(e.stderr, "Runs one workflow definition with the embedded engine, no server needed.")
		fmt.Fprintln(e.stderr, "Progress goes to stderr. Exit 0 when the run succeeded, 1 when it did not,")
		fmt.Fprintln(e.stderr, "2 for bad usage or an invalid definition.")
		fmt.Fprintln(e.stderr)
		fmt.Fprintln(e.stderr, "Flags:")
		fs.PrintDefaults()
	}
	// Flags may follow the file: parse, take the file, parse the rest.
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{code: 2}
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return usageError("run needs a definition file")
	}
	file := rest[0]
	if err := fs.Parse(rest[1:]); err != nil {
		return &exitError{code: 2}
	}
	if fs.NArg() > 0 {
		return usageError("run takes one file; unexpected %q", fs.Arg(0))
	}
	if *resume != "" && *dbURL == "" {
		return usageError("--resume needs --db: the database that holds the run")
	}

	// One compiler (the spec's default limits) for the file and for the
	// engine, which compiles subworkflow files and resumed runs with it.
	compiler := plan.Compiler{}
	compiled, err := loadPlan(compiler, file)
	if err != nil {
		printProblems(e.stderr, file, err)
		return &exitError{code: 2}
	}
	in, err := parseInputs(compiled, *inputsJSON, inputs)
	if err != nil {
		return usageError("%v", err)
	}
	sigs := map[string]any{}
	for _, s := range signals {
		name, payload, _ := strings.Cut(s, "=")
		var v any
		if payload != "" {
			if err := json.Unmarshal([]byte(payload), &v); err != nil {
				v = payload
			}
		}
		sigs[name] = v
	}

	url := *dbURL
	if url == "" {
		dir, err := os.MkdirTemp("", "baton-run-")
		if err != nil {
			return err
		}
		// The throwaway database goes with the run; a leftover temp dir is harmless.
		defer func() { _ = os.RemoveAll(dir) }()
		url = "sqlite://" + filepath.Join(dir, "run.db")
	}
	st, err := store.Open(ctx, url)
	if err != nil {
		return err
	}
	defer closeStore(st, &err)

	progress := &progressPrinter{w: e.stderr, names: map[string]string{}}
	eng := engine.New(st, engine.NewRegistry(actions.Builtins(slog.New(slog.DiscardHandler))...), engine.Config{
		Compiler: compiler,
		Versions: fileVersions{dir: filepath.Dir(file)},
	})
	// Subscribe before anything moves so that no event is missed.
	sub := eng.Subscribe("", 1<<16)
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		for ev := range sub.C {
			progress.event(ev)
		}
	}()
	if err := eng.Start(ctx); err != nil {
		sub.Close()
		return err
	}
	stop := func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Stop(c)
		<-printed
	}

	var id string
	if *resume != "" {
		id = *resume
		run, err := eng.Run(ctx, id)
		if err != nil {
			stop()
			return err
		}
		progress.setRun(id, run.Template)
		fmt.Fprintf(e.stderr, "baton: resuming run %s of %s (%s)\n", id, run.Template, run.Status)
	} else {
		progress.mu.Lock()
		progress.started = true // print the main run's events once its id is known
		progress.mu.Unlock()
		run, err := eng.StartRun(ctx, compiled, engine.RunOptions{Inputs: in, Trigger: models.TriggerCLI})
		if err != nil {
			stop()
			if models.IsCode(err, models.Invalid) {
				printProblems(e.stderr, file, err)
				return &exitError{code: 2}
			}
			return err
		}
		id = run.ID
		progress.setRun(id, run.Template)
	}
	for name, payload := range sigs {
		if err := eng.Signal(ctx, id, name, payload); err != nil {
			fmt.Fprintf(e.stderr, "baton: signal %s: %v\n", name, err)
		}
	}

	run, err := eng.Wait(ctx, id)
	if err != nil && ctx.Err() != nil {
		// Interrupted: with a kept database the run stays resumable;
		// otherwise it is cancelled.
		if *dbURL == "" {
			_ = eng.Cancel(context.Background(), id)
			if run, err = eng.Wait(context.Background(), id); err == nil {
				progress.final(run)
			}
		} else {
			fmt.Fprintf(e.stderr, "baton: interrupted; continue with: baton run %s --db %s --resume %s\n", file, *dbURL, id)
		}
		stop()
		return &exitError{code: 1}
	}
	stop()
	if err != nil {
		return err
	}
	progress.final(run)
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(run); err != nil {
			return err
		}
	}
	if run.Status != models.RunSucceeded {
		return &exitError{code: 1}
	}
	return nil
}

// loadPlan reads, parses and compiles a definition file.
func loadPlan(c plan.Compiler, file string) (*plan.Plan, error) {
	def, err := loadDefinition(file)
	if err != nil {
		return nil, err
	}
	return c.Compile(def)
}

// loadDefinition reads and parses a definition file.
func loadDefinition(file string) (models.Definition, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return models.Definition{}, unwrapPathError(err)
	}
	return plan.Parse(data, plan.FormatFromName(file))
}

// parseInputs merges --inputs and --input; an --input value is JSON unless
// the input is declared a string (so --input amount=1500 is a number and
// --input id=007 stays "007").
func parseInputs(compiled *plan.Plan, inputsJSON string, pairs []string) (map[string]any, error) {
	in := map[string]any{}
	if inputsJSON != "" {
		if err := json.Unmarshal([]byte(inputsJSON), &in); err != nil {
			return nil, fmt.Errorf("--inputs is not a JSON object: %w", err)
		}
	}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--input %q: want name=value", p)
		}
		decl, declared := compiled.Definition.Inputs[k]
		if declared && decl.Type == models.TypeString {
			in[k] = v
			continue
		}
		var x any
		if err := json.Unmarshal([]byte(v), &x); err != nil {
			x = v
		}
		in[k] = x
	}
	return in, nil
}

// fileVersions are the templates subworkflows run: template "child" is
// the definition file child.yaml, child.yml or child.json in the parent
// file's folder (a template key cannot hold a dot or a slash, so the key
// names the file without its extension). A file counts as the approved
// version 0 of its template, whatever version the step names; the engine
// compiles it with the run's compiler.
type fileVersions struct{ dir string }

func (r fileVersions) LatestApprovedVersion(_ context.Context, key string) (*models.Version, error) {
	for _, ext := range []string{"", ".yaml", ".yml", ".json"} {
		path := filepath.Join(r.dir, key+ext)
		if st, err := os.Stat(path); err != nil || st.IsDir() {
			continue
		}
		def, err := loadDefinition(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return &models.Version{Template: key, Status: models.VersionApproved, Definition: def}, nil
	}
	return nil, fmt.Errorf("no definition file %s.yaml, .yml or .json in %s", key, r.dir)
}

func (r fileVersions) TemplateVersion(ctx context.Context, key string, _ int) (*models.Version, error) {
	return r.LatestApprovedVersion(ctx, key)
}

// progressPrinter writes one line per event a person can follow.
type progressPrinter struct {
	mu      sync.Mutex
	w       io.Writer
	runID   string
	started bool
	early   []models.Event
	names   map[string]string // run id → template, for child runs
}

func (p *progressPrinter) setRun(id, template string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.runID = id
	p.names[id] = template
	early := p.early
	p.early = nil
	for _, ev := range early {
		p.printLocked(ev)
	}
}

func (p *progressPrinter) event(ev models.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.runID == "" {
		p.early = append(p.early, ev)
		return
	}
	p.printLocked(ev)
}

func (p *progressPrinter) printLocked(ev models.Event) {
	prefix := "  "
	if ev.RunID != p.runID {
		prefix = "    [" + short(ev.RunID) + "] " // a child run
	}
	step := ev.StepID
	dur := ""
	if ev.DurationMs != nil {
		dur = fmt.Sprintf(" in %s", fmtMs(*ev.DurationMs))
	}
	msg := ""
	if ev.Error != nil {
		msg = ": " + ev.Error.Message
	}
	attempt := ""
	if ev.Attempt > 1 {
		attempt = fmt.Sprintf(" (attempt %d)", ev.Attempt)
	}
	var line string
	switch ev.Type {
	case models.EventRunQueued, models.EventStepProgress:
		return
	case models.EventRunStarted:
		line = fmt.Sprintf("baton: run %s started", ev.RunID)
		if ev.RunID != p.runID {
			line = prefix + "child run " + ev.RunID + " started"
		}
	case models.EventStepStarted:
		line = fmt.Sprintf("%s▸ %s started%s", prefix, step, attempt)
	case models.EventStepSucceeded:
		line = fmt.Sprintf("%s✓ %s succeeded%s", prefix, step, dur)
	case models.EventStepFailed:
		line = fmt.Sprintf("%s✗ %s failed%s%s", prefix, step, dur, msg)
	case models.EventStepTimedOut:
		line = fmt.Sprintf("%s✗ %s timed out%s%s", prefix, step, dur, msg)
	case models.EventStepRetrying:
		line = fmt.Sprintf("%s↻ %s attempt %d failed%s; retrying", prefix, step, ev.Attempt, msg)
	case models.EventStepSkipped:
		line = fmt.Sprintf("%s– %s skipped", prefix, step)
	case models.EventStepWaiting:
		line = fmt.Sprintf("%s⏸ %s waiting", prefix, step)
	case models.EventStepCancelled:
		line = fmt.Sprintf("%s■ %s cancelled", prefix, step)
	case models.EventStepCompensated:
		line = fmt.Sprintf("%s↺ %s compensated", prefix, step)
	case models.EventRunWaiting:
		line = prefix + "… run waiting for timers or signals"
	default:
		if ev.RunID == p.runID {
			return // the final line is printed by final
		}
		line = fmt.Sprintf("%schild run %s", prefix, ev.Status)
	}
	fmt.Fprintln(p.w, line)
}

// final prints the run's outcome.
func (p *progressPrinter) final(run models.Run) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := ""
	if run.DurationMs != nil {
		d = " in " + fmtMs(*run.DurationMs)
	}
	fmt.Fprintf(p.w, "baton: run %s %s%s\n", run.ID, run.Status, d)
	if run.Error != nil {
		where := ""
		if run.Error.StepID != "" {
			where = " (step " + run.Error.StepID + ")"
		}
		fmt.Fprintf(p.w, "baton: %s%s: %s\n", run.Error.Code, where, run.Error.Message)
	}
}

func short(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}

func fmtMs(ms float64) string {
	if ms >= 1000 {
		return fmt.Sprintf("%.2f s", ms/1000)
	}
	return fmt.Sprintf("%.1f ms", ms)
}
