package pipeline

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/internal/loggen"
	"github.com/graceguard/graceguard/rules"
)

// chunks cuts a log into pieces of about n bytes at line ends, as a
// follower hands them out.
func chunks(data []byte, n int) []string {
	var out []string
	for len(data) > 0 {
		i := min(n, len(data))
		if j := bytes.IndexByte(data[i-1:], '\n'); j >= 0 {
			i += j
		} else {
			i = len(data)
		}
		out = append(out, string(data[:i]))
		data = data[i:]
	}
	return out
}

// A watcher following an OpenUnison replica and the ingress controller in
// front of it names every replay's real client, whichever log is read
// ahead: token events wait for the proxy's records and records for events.
func TestWatchJoinsTheProxyLog(t *testing.T) {
	t.Parallel()
	for _, proxyFirst := range []bool{true, false} {
		var ou, pod bytes.Buffer
		truth, _, err := loggen.WritePaired([]io.Writer{&ou}, loggen.Config{Size: 1 << 20, Seed: 5, ReplayShare: 0.03},
			loggen.Proxy{Format: loggen.ProxyNginx, Writers: []io.Writer{&pod}})
		if err != nil {
			t.Fatal(err)
		}
		h := newWatchHarnessWith(t, WatchOptions{Rules: rules.Builtin(), Settle: 0})
		ous, pods := chunks(ou.Bytes(), 16<<10), chunks(pod.Bytes(), 16<<10)
		// One log runs several chunks ahead of the other.
		for i := 0; i < max(len(ous), len(pods))+4; i++ {
			lead, lag := pods, ous
			leadKey, lagKey := "ingress-nginx.log", "openunison.log"
			if !proxyFirst {
				lead, lag, leadKey, lagKey = ous, pods, lagKey, leadKey
			}
			if i < len(lead) {
				h.send(leadKey, lead[i])
			}
			if j := i - 4; j >= 0 && j < len(lag) {
				h.send(lagKey, lag[j])
			}
		}
		h.idle("openunison.log")
		h.idle("ingress-nginx.log")
		close(h.batches)
		if err := <-h.done; err != nil {
			t.Fatal(err)
		}
		h.mu.Lock()
		mismatch := 0
		for _, a := range h.alerts {
			if strings.HasPrefix(a.IP, "10.1.67.") {
				t.Errorf("proxy first %v: a proxy judged as a client: %s %s ← %s", proxyFirst, a.Rule, a.IP, a.PrevIP)
			}
			if a.Rule == "reuse-ip-mismatch" {
				mismatch++
				if a.Via == "" || a.Peer == "" {
					t.Errorf("proxy first %v: alert without its proxy: %+v", proxyFirst, a)
				}
			}
		}
		h.mu.Unlock()
		if int64(mismatch) < truth.Replays {
			t.Errorf("proxy first %v: %d reuse-ip-mismatch alerts for %d replays", proxyFirst, mismatch, truth.Replays)
		}
		st := h.w.attr.Stats()
		t.Logf("proxy first %v: %d replays, outcomes %v, unmatched records %d", proxyFirst, truth.Replays, st.Outcomes, st.RecordsUnmatched)
	}
}
