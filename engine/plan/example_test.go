package plan_test

import (
	"fmt"

	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/models"
)

// Check validates a definition as POST /api/v1/validate does: nil when it
// is valid, otherwise every problem at once, each with its path.
func ExampleCompiler_Check() {
	c := plan.Compiler{}
	fmt.Println(c.Check([]byte(`{"id":"ok","name":"OK","steps":[{"id":"a","type":"command","action":{"kind":"log","message":"hi"}}]}`), "application/json"))

	err := c.Check([]byte(`
id: bad
name: Bad
steps:
  - {id: a, type: command, action: {kind: log, message: hi}, dependencies: [nope]}
  - {id: b, type: command, action: {kind: htp}}
`), "application/yaml")
	fmt.Println(models.ErrorCode(err))
	for _, p := range models.ErrorDetails(err) {
		fmt.Println(p.Path)
	}
	// Output:
	// <nil>
	// invalid
	// steps[0].dependencies[0]
	// steps[1].action.kind
}

// ParseAndCompile turns a definition into the Plan the engine runs: the
// graph with its edges, every expression and template compiled, and the
// effective settings (here the retry policy's defaults filled in). Limits
// bound what a definition may ask for.
func ExampleCompiler_ParseAndCompile() {
	c := plan.Compiler{Limits: plan.Limits{MaxOutputBytes: 64 << 10}}
	p, err := c.ParseAndCompile([]byte(`
id: order
name: Order
retryPolicy: {maxAttempts: 3}
steps:
  - {id: reserve, type: command, action: {kind: set, values: {ok: true}}}
  - {id: ship, type: command, dependencies: [reserve], action: {kind: log, message: "shipping"}}
`), plan.FormatYAML)
	if err != nil {
		fmt.Println(err)
		return
	}
	ship, _ := p.Step("ship")
	fmt.Println(len(p.Steps), ship.In[0].From, ship.In[0].Kind, ship.Retry.MaxAttempts, ship.Retry.InitialInterval)
	// Output: 2 reserve dependency 3 1000
}
