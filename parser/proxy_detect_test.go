package parser

import (
	"bytes"
	"strings"
	"testing"
)

// envoyInfo is a line of Envoy's own log, which Envoy writes to the same
// stdout as its access lines: its stamp has log4j2's shape.
const envoyInfo = "[2026-11-26 09:00:00.123][1][info][main] [source/server/server.cc:1] starting"

func firstProxyLine(t *testing.T, f ProxyFormat) string {
	t.Helper()
	for _, l := range proxyLines {
		if l.want.Format == f {
			return l.line
		}
	}
	t.Fatalf("no %v line", f)
	return ""
}

// An Envoy Gateway pod's log opens with Envoy's own lines, then its JSON
// access lines. IsProxyLog, which picks how scan's block reader splits a
// plain file, read the first of Envoy's lines as OpenUnison's and said no:
// the block reader then joined every JSON access line to the Envoy line
// before it, and a scan of the file found no proxy record, where the
// Scanner (watch, wrapped logs) found them all.
func TestIsProxyLogEnvoyWritesFirst(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		head string
		want bool
	}{
		{"Envoy Gateway JSON after Envoy's lines", envoyInfo + "\n" + envoyInfo + "\n" + firstProxyLine(t, ProxyEnvoyGateway) + "\n", true},
		{"Envoy text after Envoy's lines", envoyInfo + "\n" + firstProxyLine(t, ProxyEnvoy) + "\n", true},
		{"Envoy's lines only", envoyInfo + "\n", true},
		{"Envoy's warning", strings.Replace(envoyInfo, "[info]", "[warning]", 1) + "\n", true},
		{"an OpenUnison thread of digits", "[2026-11-23 10:00:00,000][1] INFO  X - [info] y\n", false},
	} {
		if got := IsProxyLog([]byte(tt.head)); got != tt.want {
			t.Errorf("%s: IsProxyLog %v", tt.name, got)
		}
	}
}

// scanRecords returns a Scanner's records of in, and whether it took in for a
// proxy's log.
func scanRecords(t *testing.T, in string) ([]string, bool) {
	t.Helper()
	sc := NewScanner(strings.NewReader(in))
	var recs []string
	for sc.Scan() {
		recs = append(recs, string(sc.Record().Text))
	}
	if sc.Err() != nil {
		t.Fatal(sc.Err())
	}
	return recs, sc.ProxyLog()
}

// The Scanner (and the Assembler under watch) decides what a source is as
// IsProxyLog does, from its first line that tells: an OpenUnison record
// first makes it OpenUnison's for good. It went over to a proxy's lines at
// any continuation line that looked like an access line: a stack trace
// holding one (an exception's message quoting a request) made that line a
// proxy record and every later continuation line a record of its own,
// where scan's block reader kept the OpenUnison records whole.
func TestScannerStaysWithOpenUnisonOnceItSpoke(t *testing.T) {
	t.Parallel()
	in := "[2026-11-23 10:00:00,000][t] ERROR X - boom\n" + firstProxyLine(t, ProxyNginx) + "\n" +
		"[2026-11-23 10:00:01,000][t] ERROR X - again\n\tat x.y(Z.java:1)\n"
	recs, proxy := scanRecords(t, in)
	if proxy || len(recs) != 2 || !strings.HasSuffix(recs[1], "\tat x.y(Z.java:1)") {
		t.Errorf("proxy log %v, records %q", proxy, recs)
	}
	var blocks []string
	SplitCandidates([]byte(in), func(rec []byte, _ Kind, _ int, _ int64) { blocks = append(blocks, string(rec)) })
	for _, b := range blocks {
		if Classify([]byte(b)) == KindProxy {
			t.Errorf("the block splitter found a proxy record %q", b)
		}
	}
	// Envoy's own lines first: a proxy's log from the start, as for IsProxyLog.
	in = envoyInfo + "\n" + firstProxyLine(t, ProxyEnvoyGateway) + "\n" + envoyInfo + "\n" + firstProxyLine(t, ProxyEnvoyGateway) + "\n"
	recs, proxy = scanRecords(t, in)
	if !proxy || len(recs) != 4 || bytes.IndexByte([]byte(strings.Join(recs, "")), '\n') >= 0 {
		t.Errorf("proxy log %v, records %q", proxy, recs)
	}
}
