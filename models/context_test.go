package models

import (
	"context"
	"encoding/json"
	"testing"
)

func TestRequestIDTravelsInContext(t *testing.T) {
	t.Parallel()
	ctx := ContextWithRequestID(context.Background(), "req-42")
	if got := RequestIDFrom(ctx); got != "req-42" {
		t.Fatalf("RequestIDFrom = %q; want req-42", got)
	}
	// Work not started by a request has no id, and an empty id adds none.
	if got := RequestIDFrom(context.Background()); got != "" {
		t.Fatalf("a bare context carries %q", got)
	}
	if got := ContextWithRequestID(context.Background(), ""); got != context.Background() {
		t.Fatal("an empty id wrapped the context")
	}
	// A plain string key of the same text is not taken for the id.
	//nolint:staticcheck // the collision is what is being tested
	other := context.WithValue(context.Background(), "requestIDKey", "spoofed")
	if got := RequestIDFrom(other); got != "" {
		t.Fatalf("another package's key was read as the request id: %q", got)
	}
}

func TestEncodedJSONIsWrittenAsItIs(t *testing.T) {
	t.Parallel()
	row := StepRun{StepID: "a", Output: EncodedJSON(`{"n":1,"s":"<x>"}`)}
	b, err := json.Marshal(row)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Output map[string]any `json:"output"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if back.Output["n"] != 1.0 || back.Output["s"] != "<x>" {
		t.Fatalf("the encoded output came back as %v (%s)", back.Output, b)
	}
	if b, _ := json.Marshal(EncodedJSON(nil)); string(b) != "null" {
		t.Fatalf("an empty encoding is %s; want null", b)
	}
}

func TestDraftLockKeyNamesTheTemplate(t *testing.T) {
	t.Parallel()
	if DraftLockKey("orders") == DraftLockKey("orders2") || DraftLockKey("orders") != "draft:orders" {
		t.Fatalf("DraftLockKey(orders) = %q", DraftLockKey("orders"))
	}
}
