package actions_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/actions"
	"github.com/baton-run/baton/models"
)

func in(a models.Action) engine.ActionInput {
	return engine.ActionInput{RunID: "r", StepID: "s", Attempt: 1, Item: -1, Action: a, IdempotencyKey: "r/s", MaxOutputBytes: 1 << 10}
}

func failure(t *testing.T, err error) *engine.StepFailure {
	t.Helper()
	var sf *engine.StepFailure
	if !errors.As(err, &sf) {
		t.Fatalf("error %v is not a *StepFailure", err)
	}
	return sf
}

func TestHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Content-Type", "application/problem+json")
			fmt.Fprint(w, `{"a": 1}`)
		case "/text":
			fmt.Fprint(w, "plain")
		case "/big":
			fmt.Fprint(w, strings.Repeat("x", 2000))
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/once":
			http.Redirect(w, r, "/text", http.StatusFound)
		case "/created":
			w.WriteHeader(http.StatusCreated)
		case "/teapot":
			w.WriteHeader(http.StatusTeapot)
		case "/timeout":
			w.WriteHeader(http.StatusRequestTimeout)
		case "/string-body":
			b := make([]byte, 100)
			n, _ := r.Body.Read(b)
			fmt.Fprintf(w, "%s|%s", r.Header.Get("Content-Type"), b[:n])
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}
	}))
	defer srv.Close()
	h := actions.NewHTTP(actions.HTTPConfig{MaxRedirects: 3})
	ctx := context.Background()

	out, err := h.Run(ctx, in(models.Action{URL: srv.URL + "/json"}))
	if err != nil || out.(map[string]any)["body"].(map[string]any)["a"] != float64(1) {
		t.Errorf("json: %v, %v", out, err)
	}
	if out, err := h.Run(ctx, in(models.Action{URL: srv.URL + "/once"})); err != nil || out.(map[string]any)["body"] != "plain" {
		t.Errorf("one redirect: %v, %v", out, err)
	}
	if _, err := h.Run(ctx, in(models.Action{URL: srv.URL + "/loop"})); err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Errorf("redirect loop = %v; want stopped after the cap", err)
	}
	if _, err := h.Run(ctx, in(models.Action{URL: srv.URL + "/big"})); failure(t, err).Code != engine.CodeOutputLarge {
		t.Errorf("big body = %v; want output_too_large", err)
	}
	if _, err := h.Run(ctx, in(models.Action{URL: srv.URL + "/created", ExpectStatus: []int{200}})); failure(t, err).Retryable {
		t.Errorf("unexpected 201 must not be retryable")
	}
	if out, err := h.Run(ctx, in(models.Action{URL: srv.URL + "/created", ExpectStatus: []int{201}})); err != nil || out.(map[string]any)["status"] != 201 {
		t.Errorf("expected 201: %v, %v", out, err)
	}
	if sf := failure(t, func() error { _, err := h.Run(ctx, in(models.Action{URL: srv.URL + "/teapot"})); return err }()); sf.Retryable || sf.Output == nil {
		t.Errorf("418: %+v; want not retryable, with the response as output", sf)
	}
	if sf := failure(t, func() error { _, err := h.Run(ctx, in(models.Action{URL: srv.URL + "/timeout"})); return err }()); !sf.Retryable {
		t.Errorf("408 must be retryable")
	}
	out, err = h.Run(ctx, in(models.Action{Method: "put", URL: srv.URL + "/string-body", Body: "hello"}))
	if err != nil || out.(map[string]any)["body"] != "text/plain; charset=utf-8|hello" {
		t.Errorf("string body: %v, %v", out, err)
	}
	if _, err := h.Run(ctx, in(models.Action{URL: "ftp://x"})); failure(t, err).Code != "invalid_url" {
		t.Errorf("ftp URL = %v", err)
	}
	if _, err := h.Run(ctx, in(models.Action{URL: "http://127.0.0.1:1/"})); !failure(t, err).Retryable {
		t.Errorf("connection refused must be retryable")
	}
	if _, err := h.Run(ctx, in(models.Action{URL: srv.URL, Body: map[string]any{"f": func() {}}})); failure(t, err).Code != "invalid_body" {
		t.Errorf("unencodable body = %v", err)
	}
	short := actions.NewHTTP(actions.HTTPConfig{DefaultTimeout: 20 * time.Millisecond})
	if _, err := short.Run(ctx, in(models.Action{URL: srv.URL + "/slow"})); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("default timeout = %v; want the deadline", err)
	}
}

func TestSetLogFail(t *testing.T) {
	ctx := context.Background()
	if out, _ := (actions.Set{}).Run(ctx, in(models.Action{})); len(out.(map[string]any)) != 0 {
		t.Errorf("set without values = %v", out)
	}
	if out, _ := (actions.Log{}).Run(ctx, in(models.Action{Message: "m"})); out.(map[string]any)["message"] != "m" {
		t.Errorf("log = %v", out)
	}
	yes := true
	if _, err := (actions.Fail{}).Run(ctx, in(models.Action{Message: "x", Retryable: &yes})); !failure(t, err).Retryable {
		t.Errorf("fail retryable: true is not retryable")
	}
	if _, err := (actions.Fail{}).Run(ctx, in(models.Action{Message: "x"})); failure(t, err).Retryable || failure(t, err).Message != "x" {
		t.Errorf("fail = %v", err)
	}
	if n := len(actions.Builtins(nil)); n != 4 {
		t.Errorf("Builtins = %d actions", n)
	}
}
