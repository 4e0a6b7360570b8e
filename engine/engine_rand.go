package engine

import "crypto/rand"

// cryptoReader feeds ULID entropy from crypto/rand.
type cryptoReader struct{}

func (cryptoReader) Read(p []byte) (int, error) { return rand.Read(p) }
