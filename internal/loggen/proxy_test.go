package loggen

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
)

// The generator's output for a given Config is pinned: WritePaired's hooks
// must not change one byte of what WriteReplicas writes.
func TestOutputPinned(t *testing.T) {
	t.Parallel()
	var a, b bytes.Buffer
	if _, err := WriteReplicas([]io.Writer{&a, &b}, Config{Size: 2 << 20, Seed: 11}); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%x %x", sha256.Sum256(a.Bytes()), sha256.Sum256(b.Bytes()))
	const want = "c51fe3e74fbe0043b38b22afd0a285ced590a4e79081859bfa8c6a4d1b47e2d4 d3be6a08eaa1b873ae9fda2a85d822a7f0dad38d7492cfa319b6605da768c168"
	if got != want {
		t.Errorf("output changed: %s", got)
	}
}

var trailerIP = regexp.MustCompile(` \[[^\]]*\] - \[([^\]]*)\]$`)

// Behind a proxy the replicas' logs are those without one, but for the
// addresses OpenUnison logs, and the proxies' logs hold one line per token
// request plus the noise.
func TestWritePaired(t *testing.T) {
	t.Parallel()
	cfg := Config{Size: 2 << 20, Seed: 11}
	var a, b bytes.Buffer
	want, err := WriteReplicas([]io.Writer{&a, &b}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var pa, pb, p0, p1 bytes.Buffer
	got, ps, err := WritePaired([]io.Writer{&pa, &pb}, cfg, Proxy{Writers: []io.Writer{&p0, &p1}})
	if err != nil {
		t.Fatal(err)
	}
	// Addresses differ in length, so Size is reached a few records apart.
	if got.Lines < want.Lines || got.Lines > want.Lines*101/100 || got.GraceReuses < want.GraceReuses {
		t.Errorf("stats %+v, without a proxy %+v", got, want)
	}
	for i, pair := range [][2]*bytes.Buffer{{&a, &pa}, {&b, &pb}} {
		direct, behind := strings.Split(pair[0].String(), "\n"), strings.Split(pair[1].String(), "\n")
		for j := range min(len(direct), len(behind)) - 1 {
			if trailerIP.ReplaceAllString(direct[j], " [$1]") != trailerIP.ReplaceAllString(behind[j], " [$1]") {
				t.Fatalf("replica %d line %d differs beyond the address:\n%s\n%s", i, j+1, direct[j], behind[j])
			}
		}
	}
	tokens := int64(strings.Count(pa.String()+pb.String(), "[AzSuccess] - k8sidp - https://k8sou.apps.example.com/auth/idp/k8sIdp/token") +
		strings.Count(pa.String()+pb.String(), "[AzFail] - k8sidp - https://k8sou.apps.example.com/auth/idp/k8sIdp/token"))
	lines := int64(strings.Count(p0.String()+p1.String(), "\n"))
	if ps.TokenRecords != tokens || ps.Lines != lines || ps.Bytes != int64(p0.Len()+p1.Len()) {
		t.Errorf("proxy stats %+v; %d token access lines, %d proxy lines", ps, tokens, lines)
	}
	if share := 1 - float64(ps.TokenRecords)/float64(ps.Lines); share < 0.97 || share > 0.99 {
		t.Errorf("noise share %.3f, want 0.98", share)
	}
	if p0.Len() == 0 || p1.Len() == 0 {
		t.Error("a proxy pod got no traffic")
	}
}

func TestWritePairedErrors(t *testing.T) {
	t.Parallel()
	var w bytes.Buffer
	for _, tt := range []struct {
		px    Proxy
		field string
	}{
		{Proxy{}, "Proxy.Writers"},
		{Proxy{Writers: []io.Writer{&w}, Format: "haproxy"}, "Proxy.Format"},
		{Proxy{Writers: []io.Writer{&w}, NoiseShare: 1}, "Proxy.NoiseShare"},
	} {
		_, _, err := WritePaired([]io.Writer{&w}, Config{Size: 1000}, tt.px)
		if ce, ok := err.(*ConfigError); !ok || ce.Field != tt.field {
			t.Errorf("%+v: %v, want an error on %s", tt.px, err, tt.field)
		}
	}
}
