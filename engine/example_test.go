package engine_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/actions"
	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

const greetYAML = `
id: greet
name: Greet
inputs:
  who: {type: string, required: true}
steps:
  - {id: hello, type: command, action: {kind: set, values: {msg: "hi {{ inputs.who }}"}}}
outputs:
  msg: "{{ steps.hello.output.msg }}"
`

// openExampleStore opens a SQLite database in a temporary folder; close
// removes both.
func openExampleStore(ctx context.Context) (st *store.Store, closeAll func(), err error) {
	dir, err := os.MkdirTemp("", "baton-example-")
	if err != nil {
		return nil, nil, err
	}
	st, err = store.Open(ctx, "sqlite://"+filepath.Join(dir, "baton.db"))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	return st, func() { _ = st.Close(); _ = os.RemoveAll(dir) }, nil
}

// An engine runs a compiled plan: compile the definition once with a
// plan.Compiler, start the engine over a store, start a run and wait for
// it. baton run does this with a definition file.
func Example() {
	ctx := context.Background()
	st, closeAll, err := openExampleStore(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer closeAll()

	compiler := plan.Compiler{} // the spec's default limits
	p, err := compiler.ParseAndCompile([]byte(greetYAML), plan.FormatYAML)
	if err != nil {
		fmt.Println(err)
		return
	}
	log := slog.New(slog.DiscardHandler)
	eng := engine.New(st, engine.NewRegistry(actions.Builtins(log)...), engine.Config{Logger: log, Compiler: compiler})
	if err := eng.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = eng.Stop(ctx) }()

	run, err := eng.StartRun(ctx, p, engine.RunOptions{Inputs: map[string]any{"who": "world"}, Trigger: models.TriggerCLI})
	if err != nil {
		fmt.Println(err)
		return
	}
	run, err = eng.Wait(ctx, run.ID)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(run.Status, run.Outputs["msg"])
	// Output: succeeded hi world
}

// A Launcher starts runs of stored templates, as baton serve does: the
// engine reads their versions from the store (Config.Versions) and the
// launcher, built on the engine, enforces approval and the active-run
// limit. Its run operations (Retry, Rerun, Cancel, Signal) decide who may
// do what to a run.
func ExampleLauncher() {
	ctx := context.Background()
	st, closeAll, err := openExampleStore(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer closeAll()

	log := slog.New(slog.DiscardHandler)
	eng := engine.New(st, engine.NewRegistry(actions.Builtins(log)...), engine.Config{Logger: log, Versions: st})
	launcher := engine.NewLauncher(eng, engine.LauncherConfig{MaxActiveRuns: 10})
	if err := eng.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = eng.Stop(ctx) }()

	// A template's first version, submitted by one user and approved by another.
	def, err := launcher.ParseDefinition([]byte(greetYAML), "application/yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, _, err := st.CreateTemplate(ctx, def, "dana"); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := st.SubmitVersion(ctx, "greet", 1, "dana"); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := st.ApproveVersion(ctx, "greet", 1, "ann", ""); err != nil {
		fmt.Println(err)
		return
	}

	run, err := launcher.Start(ctx, models.RunRequest{Template: "greet", Inputs: map[string]any{"who": "operators"},
		Trigger: models.TriggerAPI, StartedBy: "otto", AllowApproved: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	run, err = launcher.Wait(ctx, run.ID)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(run.Template, run.Version, run.Status, run.Outputs["msg"])

	// A viewer may not re-run it; an operator may, from a step that exists.
	_, err = launcher.Rerun(ctx, run.ID, models.RerunRequest{By: models.RunActor{Name: "victor"}})
	fmt.Println(models.ErrorCode(err))
	_, err = launcher.Rerun(ctx, run.ID, models.RerunRequest{From: "nope", By: models.RunActor{Name: "otto", AllowApproved: true}})
	fmt.Println(models.ErrorCode(err), models.ErrorDetails(err)[0].Path)
	// Output:
	// greet 1 succeeded hi operators
	// forbidden
	// invalid from
}
