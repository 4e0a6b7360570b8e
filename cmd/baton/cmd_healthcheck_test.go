package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestHealthcheck: exit 0 while /healthz answers 200, 1 with the reason
// when it answers 503 or nothing listens; a wildcard BATON_ADDR (as in the
// container image) is asked on loopback.
func TestHealthcheck(t *testing.T) {
	t.Parallel()
	var status atomic.Int32
	status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(status.Load()))
		w.Write([]byte(`{"status":"ok"}`))
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	out, stderr, code := runBaton(t, map[string]string{"BATON_ADDR": "0.0.0.0:" + port}, "healthcheck")
	if code != 0 || !strings.Contains(out, "healthy: http://127.0.0.1:"+port+"/healthz") {
		t.Errorf("healthy server: exit %d, %q %q", code, out, stderr)
	}
	status.Store(503)
	_, stderr, code = runBaton(t, nil, "healthcheck", "--url", srv.URL+"/healthz")
	if code != 1 || !strings.Contains(stderr, "answered 503") {
		t.Errorf("503: exit %d, %q", code, stderr)
	}
	srv.Close()
	_, stderr, code = runBaton(t, nil, "healthcheck", "--addr", "127.0.0.1:"+port)
	if code != 1 || !strings.Contains(stderr, "unhealthy") {
		t.Errorf("nothing listening: exit %d, %q", code, stderr)
	}
}
