package main

import "context"

// cmdValidate is not built yet.
func cmdValidate(_ context.Context, _ *env, _ []string) error {
	return usageError("baton validate is not available yet")
}
