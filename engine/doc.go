// Package engine runs workflows: it moves each run of a compiled plan
// (package engine/plan) through its steps, durably.
//
// The map:
//
//   - Engine (engine.go) keeps the active runs in memory and executes them:
//     scheduling by trigger rules, parallel branches and forEach (run.go,
//     run_parallel.go), subworkflows (run_child.go), retries with durable
//     backoff (retry.go), timeouts, signals and waits, cancel, compensation
//     (run_compensate.go), retry and rerun of finished runs, recovery on
//     start (recover.go) and suspension of runs whose commit failed
//     (suspend.go).
//   - Every state change is written to the Store (store.go, the one
//     interface to persistence) before anything depends on it, through one
//     group-commit writer (writer.go); timers (timer.go, on Config.Clock) are
//     stored with their due time and re-armed on start.
//   - Each change is also an event, published on the Bus (bus.go) for live
//     streams and counted in Metrics (metrics.go).
//   - Stored template versions (Config.Versions) and their compiled plans,
//     cached once submitted, all compiled by Config.Compiler (versions.go);
//     subworkflow steps resolve there.
//   - Launcher (launch.go), built on an Engine, starts runs of stored
//     template versions for the API and the scheduler: approved-only
//     production runs, test runs of drafts, the active-run limit; and
//     decides the operations on existing runs for the API and the pages
//     (runops.go): retry, rerun and its validation, cancel, signal, and
//     the run page's RunDetail.
//   - Actions are what a command step does (Registry; the built-in http,
//     set, log and fail live in engine/actions).
//
// Schedules live in engine/schedule, test wiring in engine/enginetest. The
// engine knows nothing of HTTP, HTML or GORM.
package engine
