package parser

import (
	"bytes"
	"testing"
)

// The readers a watcher runs on lines it does not parse take any bytes:
// LastRecordStart names the start of a line that opens a record, or -1;
// IsProxyLog and DetectFormat decide without failing; and the clocks agree
// with Parse: RecordTime is the time Parse gives a log4j2 record it reads,
// ProxyLineTime the time it gives a proxy's line.
func FuzzLineTimes(f *testing.F) {
	seedLines(f, false)
	for _, l := range proxyLines {
		f.Add([]byte(l.line))
	}
	f.Add([]byte("x\n[2024-01-16 03:18:22,254][t] INFO  A - b\n[2024-"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if i := LastRecordStart(b); i != -1 && (i <= 0 || i >= len(b) || b[i-1] != '\n' || !IsRecordStart(b[i:])) {
			t.Fatalf("LastRecordStart(%q) = %d", b, i)
		}
		IsProxyLog(b)
		DetectFormat(b)
		ev, err := Parse(b, nil)
		if err != nil {
			return
		}
		if at, ok := RecordTime(b, nil); ok && ev.Kind != KindProxy && !at.Equal(ev.Time) {
			t.Fatalf("RecordTime(%q) = %v, Parse's time %v", b, at, ev.Time)
		}
		if at, ok := ProxyLineTime(b, nil); ev.Kind == KindProxy && bytes.IndexByte(b, '\n') < 0 && (!ok || !at.Equal(ev.Time)) {
			t.Fatalf("ProxyLineTime(%q) = %v %v, Parse's time %v", b, at, ok, ev.Time)
		}
	})
}
