package sinks

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/alert"
)

func alertsWithIDs(ids ...string) []alert.Alert {
	out := make([]alert.Alert, len(ids))
	for i, id := range ids {
		out[i] = alert.Alert{ID: id, Rule: "r", User: id, Severity: alert.High}
	}
	return out
}

var id1, id2 = alert.ID("r", "s", 1, "one"), alert.ID("r", "s", 2, "two")

func TestLedgerRemembersAcrossRestarts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		file     string // what an earlier run left
		fresh    []string
		wantKept []string
	}{
		{"empty", "", []string{id1, id2}, []string{id1, id2}},
		{"known ids are not fresh", id1 + "\n", []string{id1, id2}, []string{id2}},
		{"a torn last line is skipped and not run into", id1 + "\n" + id2[:9], []string{id1, id2}, []string{id2}},
		{"garbage lines are skipped", "not an id\n" + id1 + "\n\x00\x01\n", []string{id1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), LedgerFile)
			if tt.file != "" {
				os.WriteFile(path, []byte(tt.file), 0o640)
			}
			l, err := OpenLedger(LedgerOptions{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			got := l.Fresh(context.Background(), alertsWithIDs(tt.fresh...))
			var ids []string
			for _, a := range got {
				ids = append(ids, a.ID)
			}
			if strings.Join(ids, ",") != strings.Join(tt.wantKept, ",") {
				t.Fatalf("fresh %v, want %v", ids, tt.wantKept)
			}
			if err := l.Record(got); err != nil {
				t.Fatal(err)
			}
			l.Close()
			again, err := OpenLedger(LedgerOptions{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(again.Fresh(context.Background(), alertsWithIDs(tt.fresh...))); n != 0 {
				t.Errorf("after a restart %d of %v are fresh again", n, tt.fresh)
			}
		})
	}
}

// Ids recorded while the file could not be written reach it once it can.
func TestLedgerWritesWhatFailedOnRetry(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", LedgerFile) // its directory does not exist yet
	l, err := OpenLedger(LedgerOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Record(alertsWithIDs(id1)); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
	if l.Err() == nil || l.Failures() != 1 || !l.Has(id1) {
		t.Fatalf("err %v, failures %d, has %v: want the error kept and the id remembered", l.Err(), l.Failures(), l.Has(id1))
	}
	os.MkdirAll(filepath.Dir(path), 0o750)
	if err := l.Retry(); err != nil || l.Err() != nil {
		t.Fatalf("retry: %v, Err %v", err, l.Err())
	}
	l.Record(alertsWithIDs(id2))
	data, _ := os.ReadFile(path)
	if string(data) != id1+"\n"+id2+"\n" {
		t.Errorf("ledger file %q", data)
	}
}

func TestLedgerCompacts(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), LedgerFile)
	l, err := OpenLedger(LedgerOptions{Path: path, Capacity: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		l.Record(alertsWithIDs(alert.ID("r", "s", int64(i), "")))
	}
	if err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if n := strings.Count(string(data), "\n"); n != 1000 {
		t.Errorf("%d ids after compaction, want the 1,000 remembered", n)
	}
	if !l.Has(alert.ID("r", "s", 2999, "")) || l.Has(alert.ID("r", "s", 0, "")) {
		t.Error("compaction kept the wrong ids")
	}
}

func TestFileHoldsWhatItWrote(t *testing.T) {
	t.Parallel()
	for _, format := range []FileFormat{FileJSON, FileECS} {
		t.Run(string(format), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "alerts.jsonl")
			f, err := newFile(FileOptions{Path: path, Format: format})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close(context.Background())
			a := replay()
			if err := f.Send(context.Background(), []alert.Alert{a}); err != nil {
				t.Fatal(err)
			}
			held, err := f.Holds([]string{a.ID, "0123456789abcdef0123"})
			if err != nil {
				t.Fatal(err)
			}
			if !held[a.ID] || len(held) != 1 {
				t.Errorf("holds %v, want only %s", held, a.ID)
			}
		})
	}
}

// Under a backlog the dispatcher hands the file many groups at once: all of
// them are written, in order, with one fsync.
func TestFileDigestWritesEveryGroup(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	f, err := newFile(FileOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close(context.Background())
	var d digester = f
	groups := [][]alert.Alert{alertsWithIDs(id1), alertsWithIDs(id2)}
	if err := d.sendDigest(context.Background(), groups); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], id1) || !strings.Contains(lines[1], id2) {
		t.Errorf("file holds:\n%s", data)
	}
}

// A write cut short by a kill leaves half a line: its alert is not taken as
// held, and the fragment is cut off when the file is opened again, so the
// file holds only whole JSON lines and the alert, written again, once.
func TestFileAfterATornWrite(t *testing.T) {
	t.Parallel()
	a := replay()
	whole := `{"id":"0123456789abcdef0123","rule":"earlier"}` + "\n"
	tests := []struct{ name, before string }{
		{"the only line torn", ""},
		{"a torn line after a whole one", whole},
		{"a torn line longer than a read", whole + strings.Repeat("x", 200<<10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "alerts.jsonl")
			os.WriteFile(path, []byte(tt.before+`{"id":"`+a.ID+`","time":"2026-11-23T10:0`), 0o640)
			f, err := newFile(FileOptions{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close(context.Background())
			held, err := f.Holds([]string{a.ID})
			if err != nil || held[a.ID] {
				t.Fatalf("holds %v (err %v): a torn line's alert taken as written", held, err)
			}
			if err := f.Send(context.Background(), []alert.Alert{a}); err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(path)
			lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
			want := 1
			if strings.HasPrefix(tt.before, whole) {
				want = 2
			}
			if len(lines) != want || !strings.HasPrefix(lines[len(lines)-1], `{"id":"`+a.ID+`"`) {
				t.Fatalf("file holds %d lines, want %d ending in the alert:\n%.300s", len(lines), want, data)
			}
			for i, l := range lines {
				if !json.Valid([]byte(l)) {
					t.Errorf("line %d is not JSON: %.80s", i+1, l)
				}
			}
			if held, _ := f.Holds([]string{a.ID}); !held[a.ID] {
				t.Error("the whole line written again is not found")
			}
		})
	}
}

// Sync makes every group recorded since the last one durable with one
// fsync, and costs none when nothing was written: the watcher syncs once a
// batch, however many groups the batch raised.
func TestLedgerSyncsOnceForTheGroupsSinceTheLast(t *testing.T) {
	t.Parallel()
	l, err := OpenLedger(LedgerOptions{Path: filepath.Join(t.TempDir(), LedgerFile)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, step := range []struct {
		record    [][]string
		wantSyncs int64
	}{
		{nil, 0},
		{[][]string{{id1}, {id2}}, 1},
		{nil, 1},
		{[][]string{{alert.ID("r", "s", 3, "three")}}, 2},
	} {
		for _, ids := range step.record {
			if err := l.Record(alertsWithIDs(ids...)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		if got := l.Syncs(); got != step.wantSyncs {
			t.Fatalf("after recording %v: %d fsyncs, want %d", step.record, got, step.wantSyncs)
		}
	}
}

// A group written as leaving and not recorded as printed is handed out
// again after a restart (Unfinished), with its rules' descriptions; once
// recorded it is not; a leaving line torn by a crash is skipped; its ids
// count as sent either way.
func TestLedgerHandsOutWhatWasLeaving(t *testing.T) {
	t.Parallel()
	described := func(ids ...string) []alert.Alert {
		g := alertsWithIDs(ids...)
		for i := range g {
			g[i].Description = "why " + g[i].Rule
		}
		return g
	}
	tests := []struct {
		name           string
		write          func(l *Ledger)
		tear           int // bytes cut off the file's end
		wantUnfinished [][]string
		wantSent       []string
		wantNotSent    []string
	}{
		{"leaving, then printed", func(l *Ledger) { l.Leaving(described(id1, id2)); l.Record(described(id1, id2)) }, 0, nil, []string{id1, id2}, nil},
		{"leaving only", func(l *Ledger) { l.Leaving(described(id1, id2)) }, 0, [][]string{{id1, id2}}, []string{id1, id2}, nil},
		{"two leaving, the first printed", func(l *Ledger) {
			l.Leaving(described(id1))
			l.Leaving(described(id2))
			l.Record(described(id1))
		}, 0, [][]string{{id2}}, []string{id1, id2}, nil},
		{"half printed", func(l *Ledger) { l.Leaving(described(id1, id2)); l.Record(described(id1)) }, 0, [][]string{{id1, id2}}, []string{id1, id2}, nil},
		{"a torn leaving line", func(l *Ledger) { l.Record(described(id1)); l.Leaving(described(id2)) }, 5, nil, []string{id1}, []string{id2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), LedgerFile)
			l, err := OpenLedger(LedgerOptions{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			tt.write(l)
			l.Close()
			if tt.tear > 0 {
				fi, _ := os.Stat(path)
				os.Truncate(path, fi.Size()-int64(tt.tear))
			}
			again, err := OpenLedger(LedgerOptions{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			var got [][]string
			for _, g := range again.Unfinished() {
				var ids []string
				for _, a := range g {
					ids = append(ids, a.ID)
					if a.Description != "why r" {
						t.Errorf("alert %s handed out without its rule's description: %q", a.ID, a.Description)
					}
				}
				got = append(got, ids)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantUnfinished) {
				t.Errorf("unfinished %v, want %v", got, tt.wantUnfinished)
			}
			for _, id := range tt.wantSent {
				if !again.Has(id) {
					t.Errorf("%s not known as sent", id)
				}
			}
			// A group whose line a crash tore never left: its alert must
			// be judged and sent when its line is read again.
			for _, id := range tt.wantNotSent {
				if again.Has(id) {
					t.Errorf("%s known as sent, though its leaving line is torn", id)
				}
			}
			// Recording what is handed out finishes it, across restarts
			// and compaction.
			for _, g := range again.Unfinished() {
				again.Record(g)
			}
			if u := again.Unfinished(); len(u) != 0 {
				t.Errorf("still unfinished after Record: %v", u)
			}
			again.Close()
			third, err := OpenLedger(LedgerOptions{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			if u := third.Unfinished(); len(u) != 0 {
				t.Errorf("unfinished after a second restart: %v", u)
			}
		})
	}
}

// Compaction keeps a group still to hand out as leaving.
func TestLedgerCompactionKeepsWhatIsLeaving(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), LedgerFile)
	l, err := OpenLedger(LedgerOptions{Path: path, Capacity: 1000})
	if err != nil {
		t.Fatal(err)
	}
	l.Leaving(alertsWithIDs(id1))
	l.Close()
	l, err = OpenLedger(LedgerOptions{Path: path, Capacity: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		l.Record(alertsWithIDs(alert.ID("r", "s", int64(i), "")))
	}
	if err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	again, err := OpenLedger(LedgerOptions{Path: path, Capacity: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if u := again.Unfinished(); len(u) != 1 || u[0][0].ID != id1 {
		t.Errorf("after compaction unfinished %v, want the group of %s", u, id1)
	}
	if !again.Has(alert.ID("r", "s", 2999, "")) {
		t.Error("compaction lost the newest id")
	}
}

// The ledger's cost per alert group: written whole as leaving, then its
// ids as printed (this release), against the ids alone (the release
// before, which printed between the two and could lose the group on
// stdout). Both with one fsync per 64 groups, as a backlog's batch.
func BenchmarkLedgerGroup(b *testing.B) {
	for _, mode := range []string{"ids-only", "leaving+printed"} {
		b.Run(mode, func(b *testing.B) {
			l, err := OpenLedger(LedgerOptions{Path: filepath.Join(b.TempDir(), LedgerFile)})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			g := replayGroup()
			for i := 0; b.Loop(); i++ {
				g[0].ID, g[1].ID = alert.ID("a", "s", int64(i), ""), alert.ID("b", "s", int64(i), "")
				if mode == "leaving+printed" {
					if err := l.Leaving(g); err != nil {
						b.Fatal(err)
					}
				}
				if err := l.Record(g); err != nil {
					b.Fatal(err)
				}
				if i%64 == 63 {
					l.Sync()
				}
			}
		})
	}
}

// Whatever a damaged ledger file holds, loading it never fails or panics,
// and every group it hands out again carries valid ids, all known as sent.
func FuzzLedgerLoad(f *testing.F) {
	line, _ := encodeLeaving(replayGroup())
	f.Add(string(line))
	f.Add(string(line) + id1 + "\n")
	f.Add(string(line[:len(line)/2]))
	f.Add("leaving " + id1 + " {\"alerts\":[{}]}\n")
	f.Add(id1 + "\nleaving ,\n")
	f.Fuzz(func(t *testing.T, data string) {
		path := filepath.Join(t.TempDir(), LedgerFile)
		if err := os.WriteFile(path, []byte(data), 0o640); err != nil {
			t.Fatal(err)
		}
		l, err := OpenLedger(LedgerOptions{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		for _, g := range l.Unfinished() {
			for _, a := range g {
				if !validID(a.ID) || !l.Has(a.ID) {
					t.Errorf("handed out %q, valid %v, known %v", a.ID, validID(a.ID), l.Has(a.ID))
				}
			}
		}
	})
}
