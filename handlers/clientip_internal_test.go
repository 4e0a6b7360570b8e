package handlers

import (
	"net"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

func TestClientIP(t *testing.T) {
	proxies, err := ParseTrustedProxies("10.0.0.0/8, 192.0.2.1 ::1")
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New()
	for _, tc := range []struct {
		name    string
		trusted bool
		peer    string
		xff     []string
		want    string
	}{
		{"no proxies trusted: the header is ignored", false, "198.51.100.9", []string{"203.0.113.5"}, "198.51.100.9"},
		{"an untrusted peer cannot name another client", true, "198.51.100.9", []string{"203.0.113.5"}, "198.51.100.9"},
		{"one trusted proxy", true, "192.0.2.1", []string{"203.0.113.5"}, "203.0.113.5"},
		{"a client-written entry on the left is skipped", true, "10.1.2.3", []string{"1.1.1.1, 203.0.113.5"}, "203.0.113.5"},
		{"a chain of trusted proxies", true, "10.1.2.3", []string{"203.0.113.5, 10.9.9.9", "10.4.4.4"}, "203.0.113.5"},
		{"only proxies: the left-most", true, "10.1.2.3", []string{"10.7.7.7, 10.8.8.8"}, "10.7.7.7"},
		{"a malformed hop stops at the last trusted one", true, "10.1.2.3", []string{"203.0.113.5, garbage, 10.8.8.8"}, "10.8.8.8"},
		{"no header behind a proxy: the proxy", true, "192.0.2.1", nil, "192.0.2.1"},
		{"IPv6 proxy", true, "::1", []string{"2001:db8::7"}, "2001:db8::7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &server{}
			if tc.trusted {
				s.deps.TrustedProxies = proxies
			}
			var fctx fasthttp.RequestCtx
			var req fasthttp.Request
			for _, v := range tc.xff {
				req.Header.Add(fiber.HeaderXForwardedFor, v)
			}
			fctx.Init(&req, &net.TCPAddr{IP: net.ParseIP(tc.peer), Port: 4000}, nil)
			c := app.AcquireCtx(&fctx)
			defer app.ReleaseCtx(c)
			if got := s.clientIP(c); got != tc.want {
				t.Errorf("clientIP = %s; want %s", got, tc.want)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies(" 10.1.2.3/8,192.0.2.1 ")
	if err != nil || len(got) != 2 || got[0].String() != "10.0.0.0/8" || got[1].String() != "192.0.2.1/32" {
		t.Errorf("ParseTrustedProxies = %v, %v", got, err)
	}
	if got, err := ParseTrustedProxies(""); err != nil || len(got) != 0 {
		t.Errorf("empty list = %v, %v", got, err)
	}
	for _, bad := range []string{"proxy.local", "10.0.0.0/99", "1.2.3"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("ParseTrustedProxies(%q) accepted it", bad)
		}
	}
}
