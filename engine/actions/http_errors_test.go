package actions_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/actions"
	"github.com/baton-run/baton/models"
)

func TestHTTPRequestErrors(t *testing.T) {
	h := actions.NewHTTP(actions.HTTPConfig{Client: &http.Client{}, DefaultTimeout: 5 * time.Second})
	// A body that cannot be JSON is the definition's fault: not retried.
	_, err := h.Run(t.Context(), in(models.Action{Kind: "http", URL: "http://127.0.0.1:1/", Body: math.Inf(1)}))
	if sf := failure(t, err); sf.Code != "invalid_body" || sf.Retryable {
		t.Errorf("unencodable body = %+v", sf)
	}
	// A method with a space makes no request.
	_, err = h.Run(t.Context(), in(models.Action{Kind: "http", URL: "http://127.0.0.1:1/", Method: "GE T"}))
	if sf := failure(t, err); sf.Code != "invalid_request" || sf.Retryable {
		t.Errorf("bad method = %+v", sf)
	}
	// Nothing listens on port 1: a connection error is retryable.
	_, err = h.Run(t.Context(), in(models.Action{Kind: "http", URL: "http://user:secret@127.0.0.1:1/x?token=t"}))
	sf := failure(t, err)
	if sf.Code != engine.CodeHTTP || !sf.Retryable {
		t.Errorf("connection refused = %+v", sf)
	}
	if strings.Contains(sf.Message, "secret") || strings.Contains(sf.Message, "token") {
		t.Errorf("the error shows credentials: %s", sf.Message)
	}
}

func TestHTTPCancelledWhileReading(t *testing.T) {
	started := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, "partial")
		w.(http.Flusher).Flush()
		close(started)
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-started
		cancel()
	}()
	_, err := actions.NewHTTP(actions.HTTPConfig{}).Run(ctx, in(models.Action{Kind: "http", URL: srv.URL}))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run cancelled while reading = %v; want context.Canceled", err)
	}
}

func TestHTTPCancelledBeforeAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := actions.NewHTTP(actions.HTTPConfig{}).Run(ctx, in(models.Action{Kind: "http", URL: srv.URL}))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run past its deadline = %v; want context.DeadlineExceeded", err)
	}
}

// A connection that breaks in the middle of the body is retried.
func TestHTTPBrokenBodyIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		fmt.Fprint(buf, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
		_ = buf.Flush()
		_ = conn.Close()
	}))
	defer srv.Close()
	_, err := actions.NewHTTP(actions.HTTPConfig{}).Run(t.Context(), in(models.Action{Kind: "http", URL: srv.URL}))
	if sf := failure(t, err); sf.Code != engine.CodeHTTP || !sf.Retryable || !strings.Contains(sf.Message, "reading the response") {
		t.Errorf("broken body = %+v", sf)
	}
}
