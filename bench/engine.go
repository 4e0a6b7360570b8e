package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/actions"
	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/models/store"
)

// EngineChain runs W1's chain n times (after warmup runs) on an engine of
// its own over st, with no HTTP in between: StartRun, then Wait, as
// engine.BenchmarkChain does. The engine is stopped before it returns, so
// a server may use the same database afterwards.
func EngineChain(ctx context.Context, st *store.Store, n, warmup int) (Result, error) {
	res := Result{Workload: "engine", What: "W1's chain with the engine called directly (StartRun + Wait, no HTTP): the floor of W1", Runs: n}
	compiled, err := plan.Compiler{}.ParseAndCompile([]byte(ChainDef(KeyChain)), plan.FormatYAML)
	if err != nil {
		return res, fmt.Errorf("compile the chain: %w", err)
	}
	eng := engine.New(st, engine.NewRegistry(actions.Builtins(nil)...), engine.Config{})
	if err := eng.Start(ctx); err != nil {
		return res, fmt.Errorf("start the engine: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = eng.Stop(sctx)
	}()
	one := func() (bool, error) {
		r, err := eng.StartRun(ctx, compiled, engine.RunOptions{Template: KeyChain, Version: 1, Trigger: "cli", StartedBy: "bench", Test: true})
		if err != nil {
			return false, err
		}
		r, err = eng.Wait(ctx, r.ID)
		return err == nil && r.Status == "succeeded", err
	}
	for range warmup {
		if _, err := one(); err != nil {
			return res, err
		}
	}
	lat := make([]time.Duration, 0, n)
	t0 := time.Now()
	for range n {
		if ctx.Err() != nil {
			res.fail("out of time")
			break
		}
		s := time.Now()
		ok, err := one()
		lat = append(lat, time.Since(s))
		switch {
		case err != nil:
			res.fail(err.Error())
		case ok:
			res.Succeeded++
		default:
			res.fail("run did not succeed")
		}
	}
	res.summarize(lat, time.Since(t0))
	return res, nil
}
