package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/correlate"
	"github.com/graceguard/graceguard/parser"
	"github.com/graceguard/graceguard/pipeline"
)

// A session whose slot a new id took is no sign of the history's caps
// being reached: in a log of ten users it read as if it were (helper-152).
// The summary says which evictions are which.
func TestSummaryTellsSessionSlotsFromCaps(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	writeSummary(&buf, 1, pipeline.Summary{Events: map[parser.Kind]int64{}, Inputs: []pipeline.InputKind{{Name: "x", OpenUnison: 1}},
		Store: correlate.MemoryStats{SessionsEvicted: 1}}, 0, false)
	line := ""
	for l := range strings.Lines(buf.String()) {
		if strings.Contains(l, "history evictions") {
			line = l
		}
	}
	for _, want := range []string{"history evictions 1: users 0, addresses 0 (the least recently seen, forgotten to stay within the history's caps), sessions 1 (a new session id took an older one's slot"} {
		if !strings.Contains(line, want) {
			t.Errorf("summary's evictions line:\n%s\nwant %q", line, want)
		}
	}
	if strings.Contains(line, "sessions 1 forgotten") {
		t.Errorf("a session's slot reads as a cap: %s", line)
	}
}
