package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/geo"
)

// geoFlags are the GeoIP database flags, the same on every command that
// enriches addresses, so they are bound and opened in one place.
type geoFlags struct {
	city string
	asn  string
}

func (g *geoFlags) addFlags(f *pflag.FlagSet) {
	f.StringVar(&g.city, "geoip-city", "", "City `DB` in MaxMind format (GeoLite2-City, GeoIP2-City, DB-IP City Lite, …)")
	f.StringVar(&g.asn, "geoip-asn", "", "ASN `DB` in MaxMind format (GeoLite2-ASN, DB-IP ASN Lite, …)")
}

// given reports whether any database was named.
func (g geoFlags) given() bool { return g.city != "" || g.asn != "" }

// open opens and verifies the databases named; with none named it returns a
// nil *geo.DB, which knows nothing and is safe to use. A database that cannot
// be used is a configuration error (exit 2), found before any work starts.
func (g geoFlags) open() (*geo.DB, error) {
	if !g.given() {
		return nil, nil
	}
	db, err := geo.Open(g.city, g.asn)
	if err != nil {
		return nil, usageErrorf("%s: %w", g.flagOf(err), err)
	}
	return db, nil
}

// flagOf is the flag that named the database err is about. geo names it
// by its kind only; the flag's name lets the command say which setting
// (a variable, a config file's line) to fix.
func (g geoFlags) flagOf(err error) string {
	if strings.HasPrefix(err.Error(), "GeoIP ASN ") || g.city == "" {
		return "--geoip-asn"
	}
	return "--geoip-city"
}

func newGeoCmd(io streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "geo",
		Short: "Ask the GeoIP databases about addresses",
	}
	cmd.AddCommand(newGeoLookupCmd(io, nil))
	return cmd
}

type geoLookupOptions struct {
	io     streams
	geo    geoFlags
	format string
	ips    []string
}

func newGeoLookupCmd(io streams, runF func(context.Context, *geoLookupOptions) error) *cobra.Command {
	o := &geoLookupOptions{io: io}
	if runF == nil {
		runF = runGeoLookup
	}
	cmd := &cobra.Command{
		Use:   "lookup [flags] IP...",
		Short: "Print what the GeoIP databases say of each address",
		Long: `Lookup prints, for each address, what graceguard's rules would see: country,
city, coordinates and accuracy radius from the City database, AS number and
organisation from the ASN database, "-" where a database does not know.
Private, loopback, link-local, carrier-grade NAT and unspecified addresses
are never looked up: they say nothing about where a client is.

The databases are verified in full first; a missing, damaged or wrong-type
database exits 2, as does an argument that is not an IP address.`,
		Example: `  graceguard geo lookup --geoip-city GeoLite2-City.mmdb --geoip-asn GeoLite2-ASN.mmdb 81.2.69.142
  graceguard geo lookup --geoip-city testdata/geoip/graceguard-test-city.mmdb \
      --geoip-asn testdata/geoip/graceguard-test-asn.mmdb --format json 192.0.2.66 198.51.100.23`,
		Args: minArgs(1, "IP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ips = args
			return runF(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	o.geo.addFlags(f)
	f.StringVar(&o.format, "format", "table", "output format: table, or json (one object per line)")
	return cmd
}

// geoLookupResult is one line of `geo lookup --format json`: the geo
// object has the keys of an alert's.
type geoLookupResult struct {
	IP      string     `json:"ip"`
	Private bool       `json:"private"`
	Geo     *alert.Geo `json:"geo"` // null when the databases know nothing
}

func runGeoLookup(_ context.Context, o *geoLookupOptions) error {
	if o.format != "table" && o.format != "text" && o.format != "json" {
		return usageErrorf("--format %q: want table or json", o.format)
	}
	addrs := make([]netip.Addr, len(o.ips))
	for i, s := range o.ips {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return usageErrorf("geo lookup: %q is not an IP address", s)
		}
		addrs[i] = a
	}
	if !o.geo.given() {
		return usageErrorf("geo lookup needs a GeoIP database: give --geoip-city DB, --geoip-asn DB or both")
	}
	db, err := o.geo.open()
	if err != nil {
		return err
	}
	defer db.Close()

	results := make([]geoLookupResult, len(addrs))
	for i, a := range addrs {
		results[i] = geoLookupResult{IP: a.String(), Private: geo.IsPrivate(a)}
		if info, ok := db.Lookup(a); ok {
			g := &alert.Geo{Country: info.Country, City: info.City, RadiusKm: info.RadiusKm, ASN: info.ASN, Org: info.Org}
			if info.HasLocation {
				g.Lat, g.Lon = &info.Lat, &info.Lon
			}
			results[i].Geo = g
		}
	}
	if o.format == "json" {
		enc := json.NewEncoder(o.io.out)
		for _, r := range results {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	return writeGeoTable(o, addrs, results)
}

func writeGeoTable(o *geoLookupOptions, addrs []netip.Addr, results []geoLookupResult) error {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ip\tcountry\tcity\tlat\tlon\tradius_km\tasn\torg\tnote")
	for i, r := range results {
		country, city, lat, lon, radius, asn, org, note := "-", "-", "-", "-", "-", "-", "-", ""
		switch g := r.Geo; {
		case r.Private || !addrs[i].Unmap().IsGlobalUnicast():
			note = addressKind(addrs[i]) + " address: no geo"
		case g == nil:
			note = "in neither database"
		default:
			country, city, org = orDash(g.Country), orDash(g.City), orDash(g.Org)
			if g.Lat != nil {
				lat, lon = strconv.FormatFloat(*g.Lat, 'f', 4, 64), strconv.FormatFloat(*g.Lon, 'f', 4, 64)
			}
			if g.RadiusKm != 0 {
				radius = strconv.Itoa(g.RadiusKm)
			}
			if g.ASN != 0 {
				asn = strconv.FormatUint(uint64(g.ASN), 10)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.IP, country, city, lat, lon, radius, asn, org, note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// The padding before an empty note would leave trailing blanks.
	var out strings.Builder
	for line := range strings.Lines(b.String()) {
		out.WriteString(strings.TrimRight(line, " \n"))
		out.WriteByte('\n')
	}
	_, err := io.WriteString(o.io.out, out.String())
	return err
}

// addressKind names the kind of address that has no geo, for the note.
func addressKind(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case a.IsLoopback():
		return "loopback"
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		return "link-local"
	case a.IsPrivate():
		return "private"
	case geo.IsPrivate(a):
		return "carrier-grade NAT"
	case a.IsMulticast():
		return "multicast"
	}
	return "non-unicast"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
