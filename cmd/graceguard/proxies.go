package main

import (
	"net/netip"
	"strings"

	"github.com/spf13/pflag"
)

// proxyFlags name the addresses that are proxies, never clients: OpenUnison
// logs them as the peer of requests they forward.
type proxyFlags struct {
	cidrs []string
}

func (p *proxyFlags) addFlags(f *pflag.FlagSet) {
	f.StringSliceVar(&p.cidrs, "proxies", nil, "`CIDR`s (or addresses) of proxies in front of OpenUnison (ingress controllers, gateways), never judged as clients; comma-separated")
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
