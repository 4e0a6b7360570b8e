package actions_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/actions"
	"github.com/baton-run/baton/models"
)

func TestKindsAndInline(t *testing.T) {
	for _, a := range actions.Builtins(nil) {
		inline := false
		if ia, ok := a.(engine.InlineAction); ok {
			inline = ia.Inline()
		}
		// http does I/O: it must run off the engine's goroutine; the others
		// are cheap and run inline.
		if want := a.Kind() != models.KindHTTP; inline != want {
			t.Errorf("%s: Inline = %v; want %v", a.Kind(), inline, want)
		}
	}
	want := []string{models.KindHTTP, models.KindSet, models.KindLog, models.KindFail}
	for i, a := range actions.Builtins(nil) {
		if a.Kind() != want[i] {
			t.Errorf("Builtins()[%d].Kind() = %q; want %q", i, a.Kind(), want[i])
		}
	}
}

// recorder is a slog handler that keeps the messages it gets.
type recorder struct{ msgs *[]string }

func (r recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r recorder) Handle(_ context.Context, rec slog.Record) error {
	*r.msgs = append(*r.msgs, rec.Message)
	return nil
}

func (r recorder) WithAttrs([]slog.Attr) slog.Handler { return r }

func (r recorder) WithGroup(string) slog.Handler { return r }

func TestLogWritesToItsLogger(t *testing.T) {
	var msgs []string
	out, err := actions.Log{Logger: slog.New(recorder{&msgs})}.Run(t.Context(), in(models.Action{Kind: "log", Message: "hello"}))
	if err != nil || out.(map[string]any)["message"] != "hello" {
		t.Fatalf("Run = %v, %v", out, err)
	}
	if len(msgs) != 1 || msgs[0] != "hello" {
		t.Errorf("logged %q; want [hello]", msgs)
	}
}
