package engine

// CachedPlans exposes the size of the plan cache to the external tests.
func (l *Launcher) CachedPlans() int { return l.eng.versions.cached() }

// ResolveSubworkflow exposes subworkflow resolution to the external tests.
var ResolveSubworkflow = (*Engine).resolveSubworkflow
