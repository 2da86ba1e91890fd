package parser

import (
	"bytes"
	"io"
	"net/netip"
	"testing"

	"github.com/graceguard/graceguard/internal/loggen"
)

// pairedLogs generates two replicas' logs behind three proxy pods.
func pairedLogs(t testing.TB, f loggen.ProxyFormat, size int64) (ous, proxies []*bytes.Buffer, ps loggen.ProxyStats) {
	t.Helper()
	ous = []*bytes.Buffer{{}, {}}
	proxies = []*bytes.Buffer{{}, {}, {}}
	_, ps, err := loggen.WritePaired([]io.Writer{ous[0], ous[1]}, loggen.Config{Size: size, Seed: 5, ReplayShare: 0.02},
		loggen.Proxy{Format: f, Writers: []io.Writer{proxies[0], proxies[1], proxies[2]}})
	if err != nil {
		t.Fatal(err)
	}
	return ous, proxies, ps
}

// Every token request the generator sent through a proxy is read back from
// the proxy's log, in every format, with its client, agent and upstream;
// nothing else in those logs is.
func TestParseGeneratedProxyLogs(t *testing.T) {
	t.Parallel()
	for _, f := range loggen.ProxyFormats() {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			ous, proxies, ps := pairedLogs(t, f, 1<<20)
			replicas := map[netip.AddrPort]bool{}
			for i := range ous {
				replicas[netip.MustParseAddrPort(loggen.ReplicaAddr(f, i))] = true
			}
			var found, lines int64
			agents := map[string]int{}
			for i, buf := range proxies {
				if !IsProxyLog(buf.Bytes()) && f != loggen.ProxyEnvoy && f != loggen.ProxyIstio {
					t.Errorf("pod %d's log not recognised as a proxy's", i)
				}
				sc := NewScanner(bytes.NewReader(buf.Bytes()))
				for sc.Scan() {
					rec := sc.Record().Text
					if Classify(rec) != KindProxy {
						continue
					}
					ev, err := Parse(rec, nil)
					if err != nil {
						t.Fatalf("%v: %q", err, rec)
					}
					p := ev.Proxy
					if !p.Client.IsValid() || len(p.Upstreams) != 1 || !replicas[p.Upstreams[0]] || p.Method != "POST" || ev.IdP != "k8sIdp" {
						t.Fatalf("record %+v of %q", p, rec)
					}
					agents[p.Agent]++
					found++
				}
				lines += sc.Stats().Lines
			}
			if found != ps.TokenRecords || lines != ps.Lines {
				t.Errorf("found %d token records in %d lines, the generator wrote %d in %d", found, lines, ps.TokenRecords, ps.Lines)
			}
			if share := float64(found) / float64(lines); share < 0.01 || share > 0.04 {
				t.Errorf("token share %.3f, want about 0.02", share)
			}
			if f != loggen.ProxyTraefik && (agents["Go-http-client/2.0"] == 0 || agents["curl/8.5.0"]+agents["python-requests/2.31.0"]+agents["curl/7.88.1"] == 0) {
				t.Errorf("agents %v", agents) // Traefik's CLF logs none by default
			}
			if f == loggen.ProxyTraefik && len(agents) != 1 {
				t.Errorf("Traefik's CLF with agents %v", agents)
			}
			// OpenUnison logged the proxies, never a client, for a token request.
			peers := map[netip.Addr]bool{}
			for _, buf := range ous {
				SplitCandidates(buf.Bytes(), func(rec []byte, k Kind, _ int, _ int64) {
					if k == KindTokenOK || k == KindGraceReuse || k == KindTokenFail {
						ev, _ := Parse(rec, nil)
						peers[ev.IP] = true
					}
				})
			}
			for a := range peers {
				if a.String() != loggen.PeerIP(f, 0) && a.String() != loggen.PeerIP(f, 1) && a.String() != loggen.PeerIP(f, 2) {
					t.Errorf("OpenUnison logged %v for a token request", a)
				}
			}
		})
	}
}
