package handlers_test

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// Benchmarks call the app's fasthttp handler directly, without a network
// or app.Test's per-request goroutine, so they measure the middleware, the
// store lookups and the rendering. Run them with:
//
//	go test -run '^$' -bench . -benchmem ./handlers/
func benchRequest(b *testing.B, method, path string, headers map[string]string, cookie string) {
	benchRequestOn(b, setup(b, openSQLite), method, path, headers, cookie)
}

func benchRequestOn(b *testing.B, bd *bundle, method, path string, headers map[string]string, cookie string) {
	h := bd.app.Handler()
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.Header.SetMethod(method)
		ctx.Request.SetRequestURI(path)
		for k, v := range headers {
			ctx.Request.Header.Set(k, v)
		}
		if cookie != "" {
			ctx.Request.Header.SetCookie("baton_session", cookie)
		}
		h(&ctx)
		if code := ctx.Response.StatusCode(); code != 200 {
			b.Fatalf("%s %s = %d; want 200\n%s", method, path, code, ctx.Response.Body())
		}
	}
}

func BenchmarkHealthz(b *testing.B) {
	benchRequest(b, "GET", "/healthz", nil, "")
}

func BenchmarkStaticAsset(b *testing.B) {
	benchRequest(b, "GET", "/static/vendor/htmx.min.js", nil, "")
}

func BenchmarkAPIMeWithToken(b *testing.B) {
	bd := setup(b, openSQLite)
	benchRequestOn(b, bd, "GET", "/api/v1/me", map[string]string{"Authorization": "Bearer " + bd.viewerToken}, "")
}

func BenchmarkPageWithSession(b *testing.B) {
	bd := setup(b, openSQLite)
	br := bd.login(b, "victor", testPassword)
	benchRequestOn(b, bd, "GET", "/settings", nil, br.cookie)
}
