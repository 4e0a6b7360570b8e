package store

// RowModels exposes every GORM row struct of the package (ours and the
// engine's runs.go) to the external tests, for the column-drift check.
var RowModels = append(append([]any{}, rowModels...), runRowModels...)
