package main

import "context"

// cmdRun is not built yet.
func cmdRun(_ context.Context, _ *env, _ []string) error {
	return usageError("baton run is not available yet")
}
