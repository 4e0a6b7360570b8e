package main

import "context"

// cmdUser is not built yet.
func cmdUser(_ context.Context, _ *env, _ []string) error {
	return usageError("baton user is not available yet")
}
