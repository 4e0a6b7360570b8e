package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
)

// Build information, set by the release build (scripts/release.sh):
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.commit=abc1234 -X main.date=2026-12-06T03:00:00Z"
//
// When they are not set, buildInfo falls back to what the Go toolchain
// records itself: the module version of `go install …@v1.2.0`, and the VCS
// revision and commit time of a build inside a git checkout.
var (
	version = "dev"
	commit  = ""
	date    = ""
)

// build is what `baton version` reports.
type build struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Date     string `json:"date"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

func buildInfo() build {
	b := build{Version: version, Commit: commit, Date: date, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if b.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		b.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if b.Commit == "" {
				b.Commit = s.Value
			}
		case "vcs.time":
			if b.Date == "" {
				b.Date = s.Value
			}
		case "vcs.modified":
			b.Modified = s.Value == "true" && commit == ""
		}
	}
	return b
}

// String is the one-line form shown in the page footer and the start-up log.
func (b build) String() string {
	s := b.Version
	if b.Commit != "" {
		c := b.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		s += " (" + c
		if b.Modified {
			s += "+changes"
		}
		s += ")"
	}
	return s
}

func cmdVersion(_ context.Context, e *env, args []string) error {
	s := newSettings("version [--json]", "Prints the version, the commit and the build date.", e.getenv, e.stderr)
	asJSON := s.fs.Bool("json", false, "print JSON")
	rest, err := s.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError("version takes no arguments, got %q", rest[0])
	}
	b := buildInfo()
	if *asJSON {
		out, _ := json.MarshalIndent(b, "", "  ")
		fmt.Fprintln(e.stdout, string(out))
		return nil
	}
	fmt.Fprintln(e.stdout, "baton", b.Version)
	fmt.Fprintln(e.stdout, "commit ", orUnknown(b.Commit)+map[bool]string{true: " (with uncommitted changes)"}[b.Modified])
	fmt.Fprintln(e.stdout, "built  ", orUnknown(b.Date))
	fmt.Fprintln(e.stdout, "go     ", b.Go, b.Platform)
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
