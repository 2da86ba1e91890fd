package main

import (
	"net/netip"
	"strings"
	"time"

	"github.com/graceguard/graceguard/attribute"
	"github.com/spf13/pflag"
)

// proxyFlags name the addresses that are proxies, never clients: OpenUnison
// logs them as the peer of requests they forward; and how far the proxies'
// clocks may be from OpenUnison's when their records are joined.
type proxyFlags struct {
	cidrs []string
	skew  time.Duration
}

// maxClockSkew bounds --proxy-clock-skew: past a second, every record of a
// second-precision log and most of a busy proxy's would match every
// request, and attribution would say nothing.
const maxClockSkew = time.Second

func (p *proxyFlags) addFlags(f *pflag.FlagSet) {
	f.StringSliceVar(&p.cidrs, "proxies", nil, "`CIDR`s (or addresses) of proxies in front of OpenUnison (ingress controllers, gateways), never judged as clients; comma-separated")
	f.DurationVar(&p.skew, "proxy-clock-skew", attribute.DefaultSkew, "how far apart the proxies' and OpenUnison's clocks may be when a proxy's records (those with milliseconds) are joined to OpenUnison's lines; raise it when nodes' clocks differ more (at most 1s)")
}

// attribution is the join's configuration from the flags; a bad value is a
// usage error naming its flag.
func (p proxyFlags) attribution() (attribute.Options, error) {
	prefixes, err := p.prefixes()
	if err != nil {
		return attribute.Options{}, err
	}
	if p.skew <= 0 || p.skew > maxClockSkew {
		return attribute.Options{}, usageErrorf("--proxy-clock-skew %s: want more than 0 and at most %s", p.skew, maxClockSkew)
	}
	return attribute.Options{Proxies: prefixes, Skew: p.skew}, nil
}

// prefixes parses the flag; a bad entry is a usage error naming it.
func (p proxyFlags) prefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, c := range p.cidrs {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(c)
		if err != nil {
			a, aerr := netip.ParseAddr(c)
			if aerr != nil {
				return nil, usageErrorf("--proxies: %q is neither a CIDR (10.1.67.0/24) nor an address", c)
			}
			pfx = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, pfx.Masked())
	}
	return out, nil
}
