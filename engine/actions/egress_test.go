package actions_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/baton-run/baton/engine/actions"
	"github.com/baton-run/baton/models"
)

// dialLog is the policy's dialer in these tests: it records every address
// dialled and refuses anything but loopback, so no test can send traffic
// off the machine even if the policy were wrong.
type dialLog struct {
	mu    sync.Mutex
	addrs []string
}

func (d *dialLog) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsLoopback() {
		panic("test dialled a non-loopback address: " + addr)
	}
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

func (d *dialLog) dialled() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

func rules(t *testing.T, list string) []actions.EgressRule {
	t.Helper()
	r, err := actions.ParseEgressRules(list)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// policy is baton serve's default (loopback refused) with the given
// rules, a stub resolver (names in hosts, nothing else) and a dial log.
func policy(t *testing.T, allow, deny string, hosts map[string]string) (*actions.EgressPolicy, *dialLog) {
	d := &dialLog{}
	return &actions.EgressPolicy{Allow: rules(t, allow), Deny: rules(t, deny), DenyLoopback: true, Dial: d.dial,
		Resolve: func(_ context.Context, host string) ([]netip.Addr, error) {
			if a, ok := hosts[host]; ok {
				return []netip.Addr{netip.MustParseAddr(a)}, nil
			}
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}}, d
}

func get(t *testing.T, p *actions.EgressPolicy, url string) (any, error) {
	t.Helper()
	return actions.NewHTTP(actions.HTTPConfig{Egress: p}).Run(t.Context(), in(models.Action{Kind: "http", URL: url}))
}

func wantDenied(t *testing.T, err error, reason string) {
	t.Helper()
	sf := failure(t, err)
	if sf.Code != actions.CodeEgressDenied || sf.Retryable || !strings.Contains(sf.Message, reason) {
		t.Fatalf("step error = %s %q (retryable %v); want %s containing %q", sf.Code, sf.Message, sf.Retryable, actions.CodeEgressDenied, reason)
	}
}

func TestEgressLoopbackNeedsAnAllow(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("metrics")) }))
	defer srv.Close()
	p, d := policy(t, "", "", nil)
	_, err := get(t, p, srv.URL)
	wantDenied(t, err, "is a loopback address; add it to --http-allow")
	if got := d.dialled(); len(got) != 0 {
		t.Fatalf("dialled %v before refusing", got)
	}
	p, d = policy(t, "127.0.0.0/8", "", nil)
	out, err := get(t, p, srv.URL)
	if err != nil || out.(map[string]any)["body"] != "metrics" {
		t.Fatalf("with --http-allow 127.0.0.0/8: %v, %v", out, err)
	}
	if got := d.dialled(); len(got) != 1 {
		t.Errorf("dialled %v", got)
	}
}

// TestEgressMetadataRefusedBeforeDialling: the cloud metadata addresses
// are refused by the policy check itself, by IP and by a name resolving
// to them (DNS rebinding), even with loopback and private ranges open.
func TestEgressMetadataRefusedBeforeDialling(t *testing.T) {
	p, d := policy(t, "127.0.0.0/8,10.0.0.0/8", "", map[string]string{"rebind.example": "169.254.169.254", "v6.example": "fd00:ec2::254"})
	for _, url := range []string{"http://169.254.169.254/latest/meta-data/", "http://rebind.example/", "http://[fd00:ec2::254]/", "http://v6.example/"} {
		_, err := get(t, p, url)
		wantDenied(t, err, "is a cloud metadata address")
	}
	_, err := get(t, p, "http://169.254.10.1/")
	wantDenied(t, err, "is a link-local address")
	if got := d.dialled(); len(got) != 0 {
		t.Fatalf("dialled %v; the policy must refuse before any connection", got)
	}
}

// TestEgressEveryRedirectIsChecked: an allowed server redirecting to the
// metadata address or to a loopback service not allowed is refused at the
// redirect.
func TestEgressEveryRedirectIsChecked(t *testing.T) {
	inner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("secret")) }))
	defer inner.Close()
	target := "http://169.254.169.254/"
	outer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, target, http.StatusFound) }))
	defer outer.Close()
	outerAddr := strings.TrimPrefix(outer.URL, "http://")
	p, d := policy(t, outerAddr[:strings.LastIndexByte(outerAddr, ':')], "", nil)
	// The allow names only 127.0.0.1; the inner server is reached as
	// localhost, which resolves to ::1 here, not allowed.
	p.Resolve = func(context.Context, string) ([]netip.Addr, error) { return []netip.Addr{netip.IPv6Loopback()}, nil }
	_, err := get(t, p, outer.URL)
	wantDenied(t, err, "cloud metadata")
	target = strings.Replace(inner.URL, "127.0.0.1", "localhost", 1)
	_, err = get(t, p, outer.URL)
	wantDenied(t, err, "localhost (::1) is refused by the egress policy: it is a loopback address")
	if got := d.dialled(); len(got) != 2 || got[0] != outerAddr || got[1] != outerAddr {
		t.Errorf("dialled %v; want the allowed server twice and nothing else", got)
	}
}

func TestEgressSelfAndDenyRules(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	p, d := policy(t, "", "", nil)
	p.DenyLoopback = false // baton run's default
	p.SetSelf(srv.Listener.Addr().String())
	_, err := get(t, p, srv.URL+"/metrics")
	wantDenied(t, err, "is this server's own listen address")
	// A denied name is refused before it is even looked up.
	resolved := 0
	p.Deny = rules(t, "*.internal")
	p.Resolve = func(context.Context, string) ([]netip.Addr, error) { resolved++; return nil, nil }
	_, err = get(t, p, "http://db.corp.internal/")
	wantDenied(t, err, "matches --http-deny *.internal")
	if resolved != 0 || len(d.dialled()) != 0 {
		t.Errorf("resolved %d times, dialled %v", resolved, d.dialled())
	}
	// "*" in deny makes allow the only destinations.
	p.Deny = rules(t, "*")
	_, err = get(t, p, "http://93.184.216.34/")
	wantDenied(t, err, "matches --http-deny *")
}

func TestParseEgressRules(t *testing.T) {
	r, err := actions.ParseEgressRules(" 10.0.0.0/8, ::1 ,*.internal, api.example.com.,* ")
	if err != nil || len(r) != 5 || r[0].String() != "10.0.0.0/8" || r[1].String() != "::1/128" || r[2].String() != "*.internal" || r[3].String() != "api.example.com" {
		t.Fatalf("ParseEgressRules = %v, %v", r, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "a*b.com", "http://x", "a b"} {
		if _, err := actions.ParseEgressRules(bad); err == nil {
			t.Errorf("ParseEgressRules(%q) accepted", bad)
		}
	}
}
