package agent

import "crypto/rand"

// cryptoReader feeds ulid from crypto/rand.
type cryptoReader struct{}

func (cryptoReader) Read(p []byte) (int, error) { return rand.Read(p) }
