package handlers

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// ParseTrustedProxies reads the addresses of the reverse proxies whose
// X-Forwarded-For header may be believed: IP addresses or CIDR prefixes,
// separated by commas or spaces. An empty list trusts no proxy.
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not an IP address or CIDR prefix", f)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR prefix", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// clientIP is the address a request came from, as login throttling, the
// audit log and request logs record it. Without trusted proxies it is the
// connection's peer. Behind them it is the right-most X-Forwarded-For entry
// that is not itself a trusted proxy: entries to its left were written by
// the client and cannot be believed (fiber's own c.IP() takes the left-most
// one, which lets a client pick its address and dodge the throttle).
func (s *server) clientIP(c *fiber.Ctx) string {
	peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return c.Context().RemoteIP().String()
	}
	peer = peer.Unmap()
	if !s.trustedProxy(peer) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(headerValues(c, fiber.HeaderXForwardedFor), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		a, err := netip.ParseAddr(h)
		if err != nil {
			// A malformed hop ends what can be believed: the last trusted
			// proxy is the best address known.
			break
		}
		client = a.Unmap()
		if !s.trustedProxy(client) {
			break
		}
	}
	return client.String()
}

func (s *server) trustedProxy(a netip.Addr) bool {
	for _, p := range s.deps.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// headerValues lists every value of a header that may be repeated.
func headerValues(c *fiber.Ctx, name string) []string {
	var out []string
	for _, v := range c.Request().Header.PeekAll(name) {
		out = append(out, string(v))
	}
	return out
}
