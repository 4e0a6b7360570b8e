//go:build !unix && !windows

package migrations

import "os"

// tryLockFile cannot lock on this platform (wasm, plan9): SQLite migrations
// there are not protected against a second process migrating at once.
func tryLockFile(*os.File) (bool, error) { return true, nil }

func unlockFile(*os.File) error { return nil }
