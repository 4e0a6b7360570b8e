package actions

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
)

// EgressPolicy decides which addresses the http action may connect to. It
// is applied in the dialer, after DNS resolution, to the very address
// dialled, so a name that resolves to a forbidden address (DNS rebinding
// included) is refused, and on every connection, so every redirect is
// checked too. The decision, for each resolved address of a request's host:
//
//  1. an Allow rule that matches (the host by pattern, or the address by
//     CIDR) permits it;
//  2. else a Deny rule that matches refuses it ("*" denies everything not
//     allowed, which makes Allow a list of the only destinations);
//  3. else the built-in blocks refuse cloud metadata (169.254.169.254,
//     fd00:ec2::254), link-local (169.254.0.0/16, fe80::/10), unspecified
//     and multicast addresses, the server's own listen address, and, with
//     DenyLoopback, loopback (127.0.0.0/8, ::1);
//  4. else it is permitted.
//
// The zero value applies the built-in blocks only, loopback permitted.
type EgressPolicy struct {
	Allow []EgressRule
	Deny  []EgressRule
	// DenyLoopback refuses loopback addresses unless allowed, for embedders
	// that want it; baton serve leaves loopback open (minus its own listen
	// address) and closes it with --http-deny 127.0.0.0/8,::1.
	DenyLoopback bool
	// Resolve looks names up; defaults to net.DefaultResolver.LookupNetIP.
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	// Dial connects to an address the policy permitted; defaults to a
	// net.Dialer. Tests replace it to see that a refused address is never
	// dialled.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	mu   sync.Mutex
	self []netip.AddrPort
}

// EgressRule is one --http-allow or --http-deny entry: a CIDR or address
// ("10.0.0.0/8", "::1"), or a host pattern ("api.example.com",
// "*.internal", which matches any name under internal, or "*").
type EgressRule struct {
	prefix netip.Prefix
	host   string // lower case; "" for a CIDR rule
}

// ParseEgressRules reads a comma-separated list of rules.
func ParseEgressRules(list string) ([]EgressRule, error) {
	var out []EgressRule
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, EgressRule{prefix: p.Masked()})
			continue
		}
		if a, err := netip.ParseAddr(f); err == nil {
			out = append(out, EgressRule{prefix: netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())})
			continue
		}
		h := strings.ToLower(strings.TrimSuffix(f, "."))
		rest := strings.TrimPrefix(h, "*.")
		if h != "*" && (rest == "" || strings.ContainsAny(rest, "*/:[] ")) {
			return nil, fmt.Errorf("%q is neither a CIDR, an IP address nor a host pattern such as api.example.com or *.internal", f)
		}
		out = append(out, EgressRule{host: h})
	}
	return out, nil
}

func (r EgressRule) String() string {
	if r.host != "" {
		return r.host
	}
	return r.prefix.String()
}

func (r EgressRule) matches(host string, ip netip.Addr) bool {
	if r.host == "" {
		return ip.IsValid() && r.prefix.Contains(ip)
	}
	switch {
	case r.host == "*":
		return true
	case strings.HasPrefix(r.host, "*."):
		return strings.HasSuffix(host, r.host[1:])
	}
	return host == r.host
}

// SetSelf records the server's listen address, which runs may not reach.
// A wildcard listen address (":8080", "0.0.0.0:8080") covers the port on
// every address of the machine.
// addr is host:port with an IP host (net.Listener.Addr().String()); other
// forms are ignored.
func (p *EgressPolicy) SetSelf(addr string) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return
	}
	self := []netip.AddrPort{netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
	if ap.Addr().IsUnspecified() || ap.Addr().IsLoopback() {
		self = append(self, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ap.Port()), netip.AddrPortFrom(netip.IPv6Loopback(), ap.Port()))
	}
	if ap.Addr().IsUnspecified() {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if pfx, err := netip.ParsePrefix(a.String()); err == nil {
					self = append(self, netip.AddrPortFrom(pfx.Addr().Unmap(), ap.Port()))
				}
			}
		}
	}
	p.mu.Lock()
	p.self = self
	p.mu.Unlock()
}

// EgressDenied is the refusal of a destination by the policy, before any
// connection to it.
type EgressDenied struct {
	Host   string
	Addr   netip.Addr
	Reason string
}

func (e *EgressDenied) Error() string {
	if e.Addr.IsValid() && e.Addr.String() != e.Host {
		return fmt.Sprintf("%s (%s) is refused by the egress policy: %s", e.Host, e.Addr, e.Reason)
	}
	return fmt.Sprintf("%s is refused by the egress policy: %s", e.Host, e.Reason)
}

var (
	metadataAddrs = []netip.Addr{netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("fd00:ec2::254")}
	openHint      = "add it to --http-allow (BATON_HTTP_ALLOW) to permit it"
)

// check decides one resolved address of host, port; nil permits it.
func (p *EgressPolicy) check(host string, ip netip.Addr, port uint16) error {
	ip = ip.Unmap()
	deny := func(reason string) error { return &EgressDenied{Host: host, Addr: ip, Reason: reason} }
	for _, r := range p.Allow {
		if r.matches(host, ip) {
			return nil
		}
	}
	for _, r := range p.Deny {
		if r.matches(host, ip) {
			return deny(fmt.Sprintf("it matches --http-deny %s", r))
		}
	}
	for _, m := range metadataAddrs {
		if ip == m {
			return deny("it is a cloud metadata address; " + openHint)
		}
	}
	switch {
	case ip.IsLinkLocalUnicast():
		return deny("it is a link-local address; " + openHint)
	case ip.IsUnspecified(), ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return deny("it is not a unicast address")
	}
	p.mu.Lock()
	self := p.self
	p.mu.Unlock()
	for _, s := range self {
		if s.Addr() == ip && s.Port() == port {
			return deny("it is this server's own listen address; " + openHint)
		}
	}
	if p.DenyLoopback && ip.IsLoopback() {
		return deny("it is a loopback address; " + openHint)
	}
	return nil
}

// dialContext resolves addr's host, checks every address against the
// policy and dials the first permitted one by its IP, so that what is
// checked is what is connected to.
func (p *EgressPolicy) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := net.LookupPort(network, portStr)
	if err != nil {
		return nil, err
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		// A host pattern in Deny refuses the name before it is looked up.
		for _, r := range p.Deny {
			if r.host != "" && r.matches(host, netip.Addr{}) && !p.allowsHost(host) {
				return nil, &EgressDenied{Host: host, Reason: fmt.Sprintf("it matches --http-deny %s", r)}
			}
		}
		resolve := p.Resolve
		if resolve == nil {
			resolve = func(ctx context.Context, h string) ([]netip.Addr, error) {
				return net.DefaultResolver.LookupNetIP(ctx, "ip", h)
			}
		}
		if ips, err = resolve(ctx, host); err != nil {
			return nil, err
		}
	}
	dial := p.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	var firstErr error
	for _, ip := range ips {
		if err := p.check(host, ip, uint16(port)); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		conn, err := dial(ctx, network, netip.AddrPortFrom(ip.Unmap(), uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		var denied *EgressDenied
		if firstErr == nil || errors.As(firstErr, &denied) {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("%s has no address", host)
	}
	return nil, firstErr
}

func (p *EgressPolicy) allowsHost(host string) bool {
	for _, r := range p.Allow {
		if r.host != "" && r.matches(host, netip.Addr{}) {
			return true
		}
	}
	return false
}

// DialContext connects to addr if the policy permits it, as the http
// action does: for other senders bound by the same policy (alert webhooks).
func (p *EgressPolicy) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return p.dialContext(ctx, network, addr)
}
