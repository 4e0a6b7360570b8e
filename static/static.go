// Package static holds the built browser assets, embedded in the binary so
// that `go run ./cmd/baton` needs no npm: the app's bundled app.js and
// app.css (built from web/ by `npm run build`), the pinned, vendored htmx
// and its SSE extension in vendor/, and the designer's lazily loaded chunks
// in chunks/. The files are committed; CI rebuilds them and fails on a
// difference.
package static

import "embed"

// FS holds the assets, with paths relative to this folder
// (for example "app.css" and "vendor/htmx.min.js").
//
//go:embed app.css app.js designer.css designer.js chunks insight.css insight.js favicon.svg vendor
var FS embed.FS
