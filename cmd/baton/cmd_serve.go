package main

import "context"

// cmdServe is not built yet.
func cmdServe(_ context.Context, _ *env, _ []string) error {
	return usageError("baton serve is not available yet")
}
