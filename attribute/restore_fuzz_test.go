package attribute

import (
	"bytes"
	"encoding/gob"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// A checkpoint's attribution state is read back at start from a file a
// disk or a person may have damaged in any way gob still decodes: whatever
// it holds, the restored attributor gives back every event it holds, once
// and in log time order, as it gives back what was pushed.
func FuzzRestore(f *testing.F) {
	a := New(Options{})
	a.ExpectProxies()
	a.Push(ou(parser.KindTokenOK, 100*time.Millisecond, ouA, ctl1, "t1"), t0)
	a.Push(ou(parser.KindGraceReuse, 50*time.Millisecond, ouB, ctl2, "t2"), t0)
	a.Push(nginx(ngx1, 100*time.Millisecond, alice, podA, 200, kubectlAgent), t0)
	a.learn.setUpstream(ouA, podA)
	var seed bytes.Buffer
	if err := gob.NewEncoder(&seed).Encode(a.Snapshot()); err != nil {
		f.Fatal(err)
	}
	f.Add(seed.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Snapshot
		if gob.NewDecoder(bytes.NewReader(data)).Decode(&s) != nil {
			return
		}
		b := New(Options{})
		b.Restore(s, t0)
		out := b.Flush(nil)
		if len(out) != len(s.Events) {
			t.Fatalf("%d events restored, %d given back", len(s.Events), len(out))
		}
		for i := 1; i < len(out); i++ {
			if out[i].Time.Before(out[i-1].Time) {
				t.Fatalf("given back out of log time order: %v then %v", out[i-1].Time, out[i].Time)
			}
		}
	})
}
