package pipeline

import (
	"testing"

	"github.com/graceguard/graceguard/parser"
)

// A copytruncate's copies are read under the identity of the file at the
// path, which waits behind them: an event goes back to the stream of its
// own file (by path among those of its identity), never to another that
// shares the identity, whose queue waits its turn.
func TestStreamOfEventAmongCopiesOfOneFile(t *testing.T) {
	t.Parallel()
	all := []*stream{
		{key: "c2", path: "app.log.2", sourceID: "1:7"},
		{key: "c1", path: "app.log.1", sourceID: "1:7"},
		{key: "p", path: "app.log", sourceID: "1:7"},
		{key: "o", path: "other.log", sourceID: "1:9"},
	}
	tests := []struct{ source, id, want string }{
		{"app.log.2", "1:7", "c2"},
		{"app.log.1", "1:7", "c1"},
		{"app.log", "1:7", "p"},
		{"other.log", "1:9", "o"},
		{"renamed.log", "1:9", "o"}, // by identity alone: renamed since
	}
	// The file at the path may be read before its copies or after them.
	for _, order := range [][]int{{0, 1, 2, 3}, {2, 3, 1, 0}} {
		var streams streamNames
		for _, i := range order {
			streams.add(all[i])
		}
		for _, tt := range tests {
			ev := parser.Event{Source: tt.source, SourceID: tt.id}
			if s := streamOfEvent(streams, &ev); s == nil || s.key != tt.want {
				t.Fatalf("order %v: event of %s (%s) went to %+v, want stream %s", order, tt.source, tt.id, s, tt.want)
			}
		}
	}
}
