package handlers_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/baton-run/baton/models/store"
)

// bigDefinition is a definition whose review text is about 5,000 lines:
// ten set steps of 495 values each. Values k0…k5 of every step read
// "changed" when changed is set: 60 changed lines in all.
func bigDefinition(changed bool) string {
	steps := make([]map[string]any, 10)
	for i := range steps {
		values := map[string]any{}
		for k := range 495 {
			v := fmt.Sprintf("value %d of step %d", k, i)
			if changed && k < 6 {
				v = "changed " + v
			}
			values[fmt.Sprintf("k%03d", k)] = v
		}
		steps[i] = map[string]any{"id": fmt.Sprintf("s%d", i), "type": "command", "action": map[string]any{"kind": "set", "values": values}}
	}
	b, _ := json.Marshal(map[string]any{"id": "big", "name": "Big", "steps": steps})
	return string(b)
}

// The review of a ~5,000-line definition with 60 changed lines shows
// exactly those 60 lines removed and 60 added, plus the version line (a
// quadratic diff used to give up above 3,000 lines and show every line
// changed).
func TestReviewDiffIsExactAtSize(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFlow(t, open)
		ann := f.login(t, "ann", testPassword)
		body := reviewBig(t, f, ann)
		if add, del := strings.Count(body, `class="dl dl-add"`), strings.Count(body, `class="dl dl-del"`); add != 61 || del != 61 {
			t.Fatalf("the review shows %d added and %d removed lines; want 61 and 61 (60 values and the version)", add, del)
		}
		if !strings.Contains(body, `+   &#34;version&#34;: &#34;2&#34;`) || !strings.Contains(body, "changed value 5 of step 9") || !strings.Contains(body, "unchanged lines") {
			t.Errorf("the review lacks the last changed line or the folded context")
		}
	})
}

// reviewBig publishes v1 of bigDefinition, submits a v2 with 60 changed
// lines and returns the review page of v2 as br sees it.
func reviewBig(t testing.TB, f *flow, br *browser) string {
	t.Helper()
	f.publish(t, bigDefinition(false))
	f.call(t, "PUT", "/api/v1/templates/big/draft", f.designer, bigDefinition(true), 200)
	f.call(t, "POST", "/api/v1/templates/big/versions/2/submit", f.designer, "", 200)
	return f.page(t, br, "/approvals/big/2", 200)
}

// BenchmarkReviewPageLarge renders the review page of a ~5,000-line
// definition with 60 changed lines through HTTP (SQLite), as an approver's
// browser asks for it. Goal: ≤ 50 ms.
//
//	go test -run '^$' -bench ReviewPageLarge -benchmem ./handlers/
func BenchmarkReviewPageLarge(b *testing.B) {
	f := newFlow(b, openSQLite)
	ann := f.login(b, "ann", testPassword)
	reviewBig(b, f, ann)
	for b.Loop() {
		f.page(b, ann, "/approvals/big/2", 200)
	}
}
