package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile checks what the image promises where neither Docker nor
// hadolint runs (CI): a static build, a distroless runtime as a non-root
// user, a health check that needs no shell, the data volume and labels.
// scripts/docker-build.sh builds it for real where Docker exists.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	// Join continuation lines, drop comments.
	df = regexp.MustCompile(`\\\n\s*`).ReplaceAllString(df, " ")
	var lines []string
	for _, l := range strings.Split(df, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	has := func(re string) bool {
		r := regexp.MustCompile(re)
		for _, l := range lines {
			if r.MatchString(l) {
				return true
			}
		}
		return false
	}
	for _, c := range []struct{ re, why string }{
		{`^FROM \$\{GO_IMAGE\} AS build$`, "a build stage"},
		{`^ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot$`, "distroless static runtime by default"},
		{`CGO_ENABLED=0`, "a static binary"},
		{`-X main.version=\$\{VERSION\} -X main.commit=\$\{COMMIT\} -X main.date=\$\{DATE\}`, "build information for baton version"},
		{`^USER 65532:65532$`, "a non-root user"},
		{`^HEALTHCHECK .*CMD \["/usr/local/bin/baton", "healthcheck"\]$`, "a health check in exec form (no shell in the image)"},
		{`^ENTRYPOINT \["/usr/local/bin/baton"\]$`, "exec-form entrypoint"},
		{`^VOLUME \["/data"\]$`, "the data volume"},
		{`BATON_DATA_DIR=/data`, "SQLite on the volume"},
		{`BATON_ADDR=0.0.0.0:8080`, "reachable from outside the container"},
		{`org.opencontainers.image.version="\$\{VERSION\}"`, "version label"},
		{`org.opencontainers.image.licenses="Apache-2.0"`, "licence label"},
	} {
		if !has(c.re) {
			t.Errorf("Dockerfile lacks %s (/%s/)", c.why, c.re)
		}
	}
	// Nothing after the last FROM may need a shell.
	last := 0
	for i, l := range lines {
		if strings.HasPrefix(l, "FROM ") {
			last = i
		}
	}
	for _, l := range lines[last:] {
		if strings.HasPrefix(l, "RUN ") || (strings.HasPrefix(l, "CMD ") && !strings.HasPrefix(l, "CMD [")) {
			t.Errorf("the runtime stage has no shell, but says %q", l)
		}
	}
	if strings.Contains(df, "ADD ") || strings.Contains(df, ":latest") {
		t.Error("use COPY, not ADD, and pinned base images, not :latest")
	}
}
