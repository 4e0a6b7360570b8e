package main

import "context"

// cmdMigrate is not built yet.
func cmdMigrate(_ context.Context, _ *env, _ []string) error {
	return usageError("baton migrate is not available yet")
}
