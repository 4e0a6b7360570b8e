// Package examples embeds the example workflow definitions of this folder so
// the server can offer them as starting points ("create from an example")
// without reading the file system at run time.
package examples

import "embed"

// FS holds every *.yaml example of this folder.
//
//go:embed *.yaml
var FS embed.FS
