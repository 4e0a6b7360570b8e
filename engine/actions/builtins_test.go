package actions_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

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

// TestLogRefusesBeforeWriting: a message over the output limit is refused
// with output_too_large and nothing reaches the server's log; one within
// it reaches the log cut to MaxServerLogMessage, whole in the output.
func TestLogRefusesBeforeWriting(t *testing.T) {
	var msgs []string
	log := actions.Log{Logger: slog.New(recorder{&msgs})}
	input := in(models.Action{Kind: "log", Message: strings.Repeat("x", 90<<10)})
	_, err := log.Run(t.Context(), input)
	if sf := failure(t, err); sf.Code != engine.CodeOutputLarge || !strings.Contains(sf.Message, "the limit for a step's output is 1024") {
		t.Fatalf("Run(90 KB, limit 1 KB) = %+v", sf)
	}
	if len(msgs) != 0 {
		t.Fatalf("logged %d messages before refusing", len(msgs))
	}
	input.MaxOutputBytes = 1 << 20
	out, err := log.Run(t.Context(), input)
	if err != nil || len(out.(map[string]any)["message"].(string)) != 90<<10 {
		t.Fatalf("Run(90 KB, limit 1 MiB) = %v", err)
	}
	if len(msgs) != 1 || len(msgs[0]) > actions.MaxServerLogMessage+64 || !strings.HasSuffix(msgs[0], "… [truncated: 92160 bytes in all]") {
		t.Errorf("server log got %d bytes ending %q", len(msgs[0]), msgs[0][len(msgs[0])-40:])
	}
}

// TestFailTruncatesItsMessage: a 4.5 MB fail message is kept as 4 KiB and
// a marker; the step still fails with code fail.
func TestFailTruncatesItsMessage(t *testing.T) {
	_, err := actions.Fail{}.Run(t.Context(), in(models.Action{Kind: "fail", Message: strings.Repeat("é", 2_250_000)}))
	sf := failure(t, err)
	if sf.Code != engine.CodeFail || len(sf.Message) > actions.MaxFailMessage+64 || !strings.HasSuffix(sf.Message, "… [truncated: 4500000 bytes in all]") {
		t.Fatalf("Fail = %s, %d bytes", sf.Code, len(sf.Message))
	}
	if !utf8.ValidString(sf.Message) {
		t.Error("cut inside a rune")
	}
}
