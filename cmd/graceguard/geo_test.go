package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/internal/golden"
)

const (
	testCityDB = "testdata/geoip/graceguard-test-city.mmdb"
	testASNDB  = "testdata/geoip/graceguard-test-asn.mmdb"
)

// geoLookupIPs covers every address of the sample logs, the partly mapped
// and unmapped ranges, and each kind of address that is never looked up.
var geoLookupIPs = []string{
	"203.0.113.7", "198.51.100.23", "192.0.2.66", "203.0.113.50", "198.51.100.77", "203.0.113.80",
	"203.0.113.99", "198.51.100.40", "192.0.2.99", "2001:db8:85a3::8a2e:370:7334", "2001:db8:ffff::66",
	"2001:db8:1::7", "192.0.2.130", "203.0.113.200", "2001:db8:2::1", "::ffff:198.51.100.23",
	"127.0.0.1", "10.0.0.1", "100.64.0.1", "169.254.169.254", "fe80::1", "fd00::1", "::", "239.1.2.3",
}

func TestGeoLookupGolden(t *testing.T) {
	repoRoot(t)
	for format, file := range map[string]string{"table": "geo-lookup.txt", "json": "geo-lookup.json"} {
		t.Run(format, func(t *testing.T) {
			args := append([]string{"geo", "lookup", "--geoip-city", testCityDB, "--geoip-asn", testASNDB, "--format", format}, geoLookupIPs...)
			stdout, stderr, code := run(t, nil, args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			golden.Check(t, filepath.Join("testdata", "golden", file), []byte(stdout))
		})
	}
}

// The JSON lines must read back as what the databases hold, independent of
// the golden file.
func TestGeoLookupJSON(t *testing.T) {
	repoRoot(t)
	stdout, stderr, code := run(t, nil, "geo", "lookup", "--geoip-city", testCityDB, "--geoip-asn", testASNDB,
		"--format", "json", "192.0.2.66", "203.0.113.99", "10.0.0.1", "203.0.113.200")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4:\n%s", len(lines), stdout)
	}
	var got []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		got = append(got, m)
	}
	sydney, _ := got[0]["geo"].(map[string]any)
	if sydney["city"] != "Sydney" || sydney["country"] != "AU" || sydney["lat"] != -33.8688 || sydney["radius_km"] != 100.0 || sydney["asn"] != 65537.0 {
		t.Errorf("192.0.2.66: %v", got[0])
	}
	// ASN only: no coordinates rather than 0, 0.
	if transit, _ := got[1]["geo"].(map[string]any); transit["asn"] != 64506.0 || transit["lat"] != nil || transit["city"] != nil {
		t.Errorf("203.0.113.99: %v", got[1])
	}
	if got[2]["private"] != true || got[2]["geo"] != nil {
		t.Errorf("10.0.0.1: %v", got[2])
	}
	if got[3]["private"] != false || got[3]["geo"] != nil {
		t.Errorf("203.0.113.200: %v", got[3])
	}
}

func TestGeoLookupOneDatabase(t *testing.T) {
	repoRoot(t)
	stdout, _, code := run(t, nil, "geo", "lookup", "--geoip-asn", testASNDB, "192.0.2.66")
	if code != 0 || !strings.Contains(stdout, "192.0.2.66  -        -     -    -    -          65537  Example Cloud AU") {
		t.Errorf("ASN database only: exit %d\n%s", code, stdout)
	}
}

func TestGeoLookupErrors(t *testing.T) {
	repoRoot(t)
	dir := t.TempDir()
	city, err := os.ReadFile(testCityDB)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.mmdb")
	text := filepath.Join(dir, "notes.txt")
	for path, data := range map[string][]byte{truncated: city[:len(city)/2], text: []byte("hello\n")} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		args []string
		want []string // in the one stderr line
	}{
		{"bad IP", []string{"--geoip-city", testCityDB, "192.0.2.66", "192.0.2.300"}, []string{`"192.0.2.300" is not an IP address`}},
		{"hostname", []string{"--geoip-city", testCityDB, "example.com"}, []string{`"example.com" is not an IP address`}},
		{"no database", []string{"192.0.2.66"}, []string{"needs a GeoIP database", "--geoip-city", "--geoip-asn"}},
		{"missing database", []string{"--geoip-city", filepath.Join(dir, "nope.mmdb"), "192.0.2.66"}, []string{"nope.mmdb", "no such file"}},
		{"truncated database", []string{"--geoip-city", truncated, "192.0.2.66"}, []string{"truncated.mmdb", "cut short"}},
		{"text file", []string{"--geoip-asn", text, "192.0.2.66"}, []string{"notes.txt", "not a MaxMind DB"}},
		{"ASN database as City", []string{"--geoip-city", testASNDB, "192.0.2.66"}, []string{testASNDB, "not a City database"}},
		{"City database as ASN", []string{"--geoip-asn", testCityDB, "192.0.2.66"}, []string{testCityDB, "not an ASN database"}},
		{"bad format", []string{"--geoip-city", testCityDB, "--format", "xml", "192.0.2.66"}, []string{`--format "xml"`}},
		{"no IP", []string{"--geoip-city", testCityDB}, []string{"at least 1 IP"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := run(t, nil, append([]string{"geo", "lookup"}, tt.args...)...)
			if code != exitUsage || stdout != "" {
				t.Errorf("exit %d, stdout %q; want exit %d and no output", code, stdout, exitUsage)
			}
			if !strings.HasPrefix(stderr, "graceguard: ") || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr %q: want one graceguard: line", stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q: want %q", stderr, w)
				}
			}
		})
	}
}

func TestGeoNeedsSubcommand(t *testing.T) {
	t.Parallel()
	_, stderr, code := run(t, nil, "geo")
	if code != exitUsage || !strings.Contains(stderr, "lookup") {
		t.Errorf("geo: exit %d, %q", code, stderr)
	}
}
