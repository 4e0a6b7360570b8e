package store

// ReviewRowModels exposes the row structs of templates.go, versions.go,
// approvals.go and triggers.go to the external tests, for their
// column-drift check.
var ReviewRowModels = reviewRowModels
