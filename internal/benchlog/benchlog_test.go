package benchlog

import (
	"bytes"
	"testing"

	"github.com/graceguard/graceguard/internal/loggen"
	"github.com/graceguard/graceguard/parser"
)

// A generated log's events are its token lines, logins and the rest the
// stages judge, none of them other, each pointing at its own record.
func TestEventsAreTheLogsJudgedRecords(t *testing.T) {
	var buf bytes.Buffer
	if _, err := loggen.Write(&buf, loggen.Config{Size: 1 << 20, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	evs := Events(data)
	if len(evs) == 0 {
		t.Fatal("no events in 1 MiB of generated log")
	}
	kinds := map[parser.Kind]int{}
	for _, ev := range evs {
		kinds[ev.Kind]++
		if ev.Kind == parser.KindOther || ev.Source != "x" || !bytes.HasPrefix(data[ev.Offset:], []byte(ev.Raw)) {
			t.Fatalf("event %s at %d from %q: not a judged record of the log", ev.Kind, ev.Offset, ev.Source)
		}
	}
	if kinds[parser.KindTokenOK] == 0 || kinds[parser.KindLogin] == 0 {
		t.Errorf("kinds %v: want token_ok and login events", kinds)
	}
}
