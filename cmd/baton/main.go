// Command baton is Baton in one binary: the web app, the API and the engine
// (serve), the engine alone (run), and the administrative commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	// Time zone data in the binary: schedules name zones (Europe/Berlin), and
	// scratch or distroless images, Windows and minimal hosts may lack them.
	_ "time/tzdata"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	os.Exit(exitCode(err, os.Stderr))
}

// exitError carries a process exit code; its message, if any, was printed already
// or is printed by exitCode.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// usageError is bad usage: exit 2.
func usageError(format string, args ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, args...)}
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "baton:", ee.msg)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "baton:", err)
	return 1
}

// env is what every command receives: its arguments' surroundings.
type env struct {
	// declared is the settings of the command that ran last, for tests
	// that read flag definitions (TestOperationsFlagReference).
	declared *settings
	getenv   func(string) string
	stdout   io.Writer
	stderr   io.Writer
}

// command is one `baton <name>`.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// commands lists every subcommand in the order `baton --help` shows them.
// Each lives in its own cmd_<name>.go file.
func commands() []command {
	return []command{
		{"serve", "run the web app, the API and the engine", cmdServe},
		{"migrate", "apply database migrations and exit", cmdMigrate},
		{"backup", "write a consistent copy of the SQLite database while Baton runs (baton backup FILE)", cmdBackup},
		{"restore", "install a backup as the SQLite database, Baton stopped (baton restore FILE)", cmdRestore},
		{"prune", "delete finished runs older than an age (baton prune --older-than 90d [--dry-run])", cmdPrune},
		{"validate", "check workflow definition files", cmdValidate},
		{"run", "run one workflow definition file with the embedded engine", cmdRun},
		{"user", "manage users (baton user add NAME --role ROLE…)", cmdUser},
		{"token", "manage API tokens (baton token create --user NAME)", cmdToken},
		{"bench", "measure runs through the API (W1–W4, async) against the engine alone", cmdBench},
		{"device", "manage devices (baton device add NAME --capability C…)", cmdDevice},
		{"agent", "serve commands as a device (baton agent --server URL)", cmdAgent},
		{"secret", "manage secrets (printf %s \"$VALUE\" | baton secret set NAME)", cmdSecret},
		{"healthcheck", "exit 0 when a running server's /healthz answers 200 (for container health checks)", cmdHealthcheck},
		{"version", "print the version, the commit and the build date", cmdVersion},
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	e := &env{getenv: getenv, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		if len(args) > 1 {
			return run(ctx, []string{args[1], "--help"}, getenv, stdout, stderr)
		}
		printUsage(stdout)
		if len(args) == 0 {
			return &exitError{code: 2}
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, e, args[1:])
		}
	}
	printUsage(stderr)
	return usageError("unknown command %q", args[0])
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "Baton: workflow orchestration in one binary.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: baton <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'baton <command> --help' for a command's flags.")
}
