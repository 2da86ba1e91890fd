package sinks

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
)

// liveRecords are the records compact writes for a loaded state, sinks by
// name.
func liveRecords(state map[string]*sinkState) []journalRecord {
	var recs []journalRecord
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for name := range state {
			if !yield(name) {
				return
			}
		}
	}) {
		st := state[name]
		if len(st.delivered) > 0 {
			recs = append(recs, journalRecord{Op: opDelivered, Sink: name, IDs: st.delivered})
		}
		for _, it := range st.pending {
			recs = append(recs, addRecord(name, it))
		}
	}
	return recs
}

// The journal is read back at every start from a file a crash may have
// torn or a person edited: whatever it holds, load neither panics nor
// fails but for its version, and the state it reads, written back as
// compact writes it, reads back the same.
func FuzzJournalLoad(f *testing.F) {
	q := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	add, _ := encodeRecords([]journalRecord{
		{Op: opHeader, Version: journalVersion},
		{Op: opDelivered, Sink: "slack", IDs: []string{"a1", "b2"}},
		addRecord("slack", &item{Seq: 3, Queued: q, Attempts: 2, Alerts: []alert.Alert{{ID: "c3", Rule: "reuse-ip-mismatch", Description: "the refresh came from elsewhere"}}}),
		{Op: opDone, Sink: "slack", Seq: 3, IDs: []string{"c3"}},
		addRecord("file", &item{Seq: 4, Queued: q, Alerts: []alert.Alert{{ID: "d4", Rule: "r"}, {ID: "e5", Rule: "r", Description: "x"}}}),
		{Op: opDead, Sink: "file", Seq: 9},
	})
	f.Add(add)
	f.Add(add[:len(add)/2])
	f.Add([]byte(`{"op":"journal","version":2}` + "\n"))
	f.Add([]byte(`{"op":"add","sink":"s","seq":1,"alerts":[{}]}` + "\n" + `{"op":"add","sink":"s","seq":1}`))
	f.Add([]byte(`{"op":"add","sink":"s","queued":"2026-11-23T10:00:00+99:00"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		path := filepath.Join(dir, "in")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		first, err := (&journal{path: path}).load(log)
		if err != nil {
			return // a version this build does not read
		}
		// As rewrite writes it, without its fsyncs: they would make the
		// fuzzer crawl.
		var written [2][]byte
		for i := range written {
			recs := append([]journalRecord{{Op: opHeader, Version: journalVersion}}, liveRecords(first)...)
			if written[i], err = encodeRecords(recs); err != nil {
				t.Fatalf("encoding what %q loaded as: %v", data, err)
			}
			if err := os.WriteFile(path, written[i], 0o600); err != nil {
				t.Fatal(err)
			}
			if first, err = (&journal{path: path}).load(log); err != nil {
				t.Fatalf("the journal written for %q does not load: %v", data, err)
			}
		}
		if !bytes.Equal(written[0], written[1]) {
			t.Fatalf("%q loads as\n%s\nwhich loads as\n%s", data, written[0], written[1])
		}
	})
}
