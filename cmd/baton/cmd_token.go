package main

import "context"

// cmdToken is not built yet.
func cmdToken(_ context.Context, _ *env, _ []string) error {
	return usageError("baton token is not available yet")
}
