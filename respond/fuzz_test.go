package respond

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// The API server's answers are read as a list of names or a Status; any
// bytes must give a bounded error or names, never a panic.
func FuzzAPIAnswer(f *testing.F) {
	f.Add([]byte(`{"kind":"PartialObjectMetadataList","items":[{"metadata":{"name":"xf1x"}}]}`))
	f.Add([]byte(`{"kind":"Status","code":503,"message":"etcdserver: request timed out"}`))
	f.Add([]byte(`{"items":[{"metadata":7}]}`))
	f.Add([]byte(`{"metadata":{"continue":"eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ"},"items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var l metaList
		if json.Unmarshal(body, &l) == nil {
			var n Names
			n.add(l, 1)
			n.add(l, 1)
			if n.Count != 2*len(l.Items) || len(n.Names) > 1 || n.Unnamed() < 0 {
				t.Fatalf("%d items added twice under a cap of 1: %+v", len(l.Items), n)
			}
		}
		err := apiError(503, body)
		if msg := err.Msg; utf8.RuneCountInString(msg) > 257 {
			t.Fatalf("message of %d runes", utf8.RuneCountInString(msg))
		}
	})
}
