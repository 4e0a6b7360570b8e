package models

import "context"

// requestIDKey is the context key of the request id; unexported so that no
// other package can collide with it.
type requestIDKey struct{}

// ContextWithRequestID returns ctx carrying the id of the HTTP request that
// does the work, so that layers below the HTTP one (the engine's launcher,
// the store) can log it without importing the HTTP layer.
func ContextWithRequestID(ctx context.Context, id string) context.Context {
	if id == "" {
		return ctx
	}
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom returns the request id ctx carries, or "" when the work was
// not started by a request (a schedule, recovery on start, `baton run`).
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
