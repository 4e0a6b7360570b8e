package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestDurationReadsMillisecondsAndGoStrings(t *testing.T) {
	t.Parallel()
	good := map[string]Duration{
		`250`: 250, `0`: 0, `"1.5s"`: 1500, `"10m"`: 600000, `"250"`: 250, `" 2s "`: 2000, `1e3`: 1000,
	}
	for in, want := range good {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil {
			t.Errorf("Unmarshal(%s): %v", in, err)
			continue
		}
		if d != want {
			t.Errorf("Unmarshal(%s) = %d; want %d", in, d, want)
		}
	}
	bad := map[string]string{
		`-5`:       "at least 0",
		`1.5`:      "whole number",
		`"soon"`:   `"soon" is not a duration`,
		`"-1s"`:    "negative",
		`"-3"`:     "negative",
		`"1500us"`: "finer than a millisecond",
		`true`:     "number of milliseconds or a string",
		`"\u00"`:   "invalid",
	}
	for in, want := range bad {
		var d Duration
		err := json.Unmarshal([]byte(in), &d)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Unmarshal(%s) error = %v; want it to mention %q", in, err, want)
		}
	}
}

func TestDurationWritesMilliseconds(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(struct {
		T Duration `json:"t"`
	}{T: 1500})
	if err != nil || string(b) != `{"t":1500}` {
		t.Fatalf("Marshal = %s, %v; want {\"t\":1500}", b, err)
	}
	if got := Duration(1500).D(); got != 1500*time.Millisecond {
		t.Errorf("Duration(1500).D() = %v", got)
	}
}

func TestErrorCarriesCodeMessageAndProblems(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("save: %w", Problems("invalid definition", []Problem{
		{Path: "steps[0].id", Message: "is required"},
		{Message: "no steps"},
	}))
	if got := ErrorCode(err); got != Invalid {
		t.Errorf("ErrorCode = %q; want invalid", got)
	}
	if got := err.Error(); got != "save: invalid definition: steps[0].id: is required; no steps" {
		t.Errorf("Error() = %q", got)
	}
	if d := ErrorDetails(err); len(d) != 2 || d[0].Path != "steps[0].id" {
		t.Errorf("ErrorDetails = %v", d)
	}
	if !IsCode(err, Invalid) || IsCode(nil, Invalid) || IsCode(err, NotFound) {
		t.Error("IsCode disagrees with the wrapped code")
	}
	plain := errors.New("disk on fire")
	if ErrorCode(plain) != Internal || ErrorDetails(plain) != nil {
		t.Error("a plain error must count as internal, with no details")
	}
	nf := Errorf(NotFound, "template %q", "x")
	if nf.Error() != `template "x"` || ErrorCode(nf) != NotFound {
		t.Errorf("Errorf = %v (%s)", nf, ErrorCode(nf))
	}
}

func TestRolesAndPermissions(t *testing.T) {
	t.Parallel()
	for _, r := range Roles {
		if got, err := ParseRole(string(r)); err != nil || got != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
	}
	if _, err := ParseRole("root"); !IsCode(err, Invalid) || !strings.Contains(err.Error(), `unknown role "root"`) {
		t.Errorf("ParseRole(root) = %v", err)
	}
	designer := &User{ID: 7, Name: "ann", Roles: []Role{RoleDesigner}}
	admin := &User{Name: "root", Roles: []Role{RoleAdmin}}
	var nobody *User
	cases := []struct {
		u    *User
		need Role
		want bool
	}{
		{designer, RoleDesigner, true},
		{designer, RoleViewer, true}, // everyone reads
		{designer, RoleApprover, false},
		{designer, RoleAdmin, false},
		{admin, RoleApprover, true},
		{admin, RoleOperator, true},
		{nobody, RoleViewer, false},
	}
	for _, c := range cases {
		if got := c.u.Can(c.need); got != c.want {
			t.Errorf("%v.Can(%s) = %v; want %v", c.u, c.need, got, c.want)
		}
	}
	if designer.String() != "ann(7)" {
		t.Errorf("String() = %q", designer.String())
	}
}

func TestStatusesKnowWhenTheyAreFinal(t *testing.T) {
	t.Parallel()
	finalRuns := map[RunStatus]bool{RunQueued: false, RunRunning: false, RunWaiting: false,
		RunSucceeded: true, RunFailed: true, RunCancelled: true, RunTimedOut: true, RunRolledBack: true}
	for s, want := range finalRuns {
		if s.Final() != want {
			t.Errorf("RunStatus(%s).Final() = %v", s, !want)
		}
	}
	finalSteps := map[StepStatus]bool{StepPending: false, StepRunning: false, StepRetrying: false, StepWaiting: false,
		StepSucceeded: true, StepFailed: true, StepSkipped: true, StepCancelled: true, StepTimedOut: true, StepCompensated: true}
	for s, want := range finalSteps {
		if s.Final() != want {
			t.Errorf("StepStatus(%s).Final() = %v", s, !want)
		}
	}
}

func TestSecretIsNeverPrinted(t *testing.T) {
	t.Parallel()
	w := Webhook{Key: "k1", Secret: Secret("hunter2"), Mode: WebhookHMAC}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("webhook", "secret", w.Secret, "hook", w)
	j, _ := json.Marshal(struct {
		S Secret `json:"s"`
	}{w.Secret})
	txt, _ := w.Secret.MarshalText()
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", w), "%+v": fmt.Sprintf("%+v", w), "%#v": fmt.Sprintf("%#v", w),
		"%s %q": fmt.Sprintf("%s %q", w.Secret, w.Secret), "json": string(j), "text": string(txt), "slog": logged.String(),
	} {
		if strings.Contains(out, "hunter2") || !strings.Contains(out, "[redacted]") {
			t.Errorf("%s prints %q; want the secret redacted", name, out)
		}
	}
	if w.Secret.Reveal() != "hunter2" {
		t.Error("Reveal must return the value")
	}
}

func TestEmptyChangeSets(t *testing.T) {
	t.Parallel()
	if !(DefinitionDiff{}).Empty() || (DefinitionDiff{StepsAdded: []string{"a"}}).Empty() {
		t.Error("DefinitionDiff.Empty is wrong")
	}
	if !(&RunWrites{}).Empty() || (&RunWrites{Events: []Event{{Seq: 1}}}).Empty() {
		t.Error("RunWrites.Empty is wrong")
	}
}
