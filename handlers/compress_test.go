package handlers_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"
)

// Static text assets go out gzip-compressed (compressed once at start-up)
// and pages are compressed too, when the browser accepts it; event streams
// and the JSON API are not.
func TestCompression(t *testing.T) {
	t.Parallel()
	b := setup(t, openSQLite)
	plain := b.do(t, request{method: "GET", path: "/static/app.js"})
	gz := b.do(t, request{method: "GET", path: "/static/app.js", headers: map[string]string{"Accept-Encoding": "gzip"}})
	if gz.res.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(gz.res.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("app.js with Accept-Encoding gzip: Content-Encoding %q, Vary %q", gz.res.Header.Get("Content-Encoding"), gz.res.Header.Get("Vary"))
	}
	if got := gunzip(t, gz.body); got != plain.body || len(gz.body) >= len(plain.body)/2 {
		t.Errorf("gzipped app.js: %d bytes for %d; decoded equal: %v", len(gz.body), len(plain.body), got == plain.body)
	}
	br := b.login(t, "victor", testPassword)
	page := b.do(t, request{method: "GET", path: "/settings", browser: br, headers: map[string]string{"Accept-Encoding": "gzip"}})
	if page.res.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(gunzip(t, page.body), `data-testid="page-body"`) {
		t.Errorf("the settings page: Content-Encoding %q", page.res.Header.Get("Content-Encoding"))
	}
	api := b.do(t, request{method: "GET", path: "/api/v1/me", bearer: b.viewerToken, headers: map[string]string{"Accept-Encoding": "gzip"}})
	if api.res.Header.Get("Content-Encoding") != "" {
		t.Errorf("the JSON API was compressed (%q)", api.res.Header.Get("Content-Encoding"))
	}
}

func gunzip(t *testing.T, body string) string {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
