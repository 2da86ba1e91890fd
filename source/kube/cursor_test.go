package kube

import (
	"testing"
	"time"
)

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []cursor{
		{},
		{at: t0, n: 0},
		{at: t0, n: 3},
		{at: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), n: 1},
	} {
		got, err := parseCursor(c.String())
		if err != nil || !got.at.Equal(c.at) || got.n != c.n {
			t.Errorf("%q: parsed %v %v", c.String(), got, err)
		}
	}
	if got := (cursor{}).String(); got != "0001-01-01T00:00:00Z|0" {
		t.Errorf("the zero cursor is %q", got)
	}
}

func TestParseCursorRejects(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "x", "2026-11-23T10:00:00Z", "2026-11-23T10:00:00Z|", "2026-11-23T10:00:00Z|-1",
		"2026-11-23 10:00:00|1", "2026-11-23T10:00:00Z|1|2", "2026-11-23T10:00:00.123456789Z|99999999999999999999999"} {
		if c, err := parseCursor(s); err == nil {
			t.Errorf("%q parsed as %v", s, c)
		}
	}
}

// The API server passes sinceTime on to the kubelet without fractions;
// asking for the cursor's whole second says what comes back.
func TestCursorSince(t *testing.T) {
	t.Parallel()
	if _, ok := (cursor{}).since(); ok {
		t.Error("the zero cursor asks for a sinceTime")
	}
	if got, _ := (cursor{at: t0.In(time.FixedZone("x", 3600)), n: 2}).since(); got != "2026-11-23T10:00:00Z" {
		t.Errorf("since %q", got)
	}
}

func TestSkipper(t *testing.T) {
	t.Parallel()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name   string
		to     cursor
		lines  []time.Time
		want   []bool // skipped
		proven bool   // the cursor's lines came again: the log is the one read before
	}{
		{"zero cursor skips nothing", cursor{}, []time.Time{at(0), at(0)}, []bool{false, false}, true},
		{"earlier lines of the second", cursor{at: at(500), n: 0}, []time.Time{at(100), at(500), at(600)}, []bool{true, false, false}, true},
		{"the first n of the same stamp", cursor{at: at(0), n: 2}, []time.Time{at(0), at(0), at(0), at(0)}, []bool{true, true, false, false}, true},
		{"a later stamp ends skipping", cursor{at: at(0), n: 3}, []time.Time{at(0), at(1), at(0)}, []bool{true, false, false}, false},
		{"after the first let through, none", cursor{at: at(500), n: 0}, []time.Time{at(600), at(100)}, []bool{false, false}, true},
		{"another log: none of the cursor's lines", cursor{at: at(500), n: 1}, []time.Time{at(100), at(900)}, []bool{true, false}, false},
		{"nothing after the cursor's lines", cursor{at: at(500), n: 1}, []time.Time{at(500)}, []bool{true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := skipper{to: tt.to}
			for i, l := range tt.lines {
				if got := s.skip(l); got != tt.want[i] {
					t.Errorf("line %d: skipped %v, want %v", i, got, tt.want[i])
				}
			}
			if got := s.proven(); got != tt.proven {
				t.Errorf("proven() = %v, want %v", got, tt.proven)
			}
			if s.trust = true; !s.proven() {
				t.Error("not proven with trust")
			}
		})
	}
}

// A line's cursor is what a restart resumes from to read that line again.
func TestCursorAdvance(t *testing.T) {
	t.Parallel()
	var c cursor
	stamps := []time.Time{t0, t0, t0.Add(1), t0.Add(1), t0.Add(1), t0.Add(2)}
	var starts []cursor
	for _, at := range stamps {
		starts = append(starts, c.lineStart(at))
		c.advance(at)
	}
	for i, start := range starts {
		s := skipper{to: start}
		first := -1
		for j, at := range stamps {
			if !s.skip(at) {
				first = j
				break
			}
		}
		if first != i {
			t.Errorf("line %d's cursor %v resumes at line %d", i, start, first)
		}
	}
	if end := (skipper{to: c}); end.skip(stamps[len(stamps)-1]) != true {
		t.Error("the end cursor lets the last line through again")
	}
}

func TestLineTime(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		line string
		ok   bool
	}{
		{"2026-11-23T10:00:00.123456789Z [x] y\n", true},
		{"2026-11-23T10:00:00Z y\n", true},
		{"2026-11-23T11:00:00+01:00 y\n", true},
		{"[2026-11-23 10:00:00,000] y\n", false},
		{" y\n", false},
		{"\n", false},
	} {
		at, ok := lineTime([]byte(tt.line))
		if ok != tt.ok || (ok && !at.Equal(t0.Truncate(time.Second)) && !at.Equal(t0)) {
			t.Errorf("%q: %v %v", tt.line, at, ok)
		}
	}
}

func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"0001-01-01T00:00:00Z|0", cursor{at: t0, n: 7}.String(), "2026-11-23T11:00:00+01:00|1", "|", "x|1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseCursor(s)
		if err != nil {
			return
		}
		again, err := parseCursor(c.String())
		if err != nil || !again.at.Equal(c.at) || again.n != c.n {
			t.Fatalf("%q → %q → %v %v", s, c.String(), again, err)
		}
	})
}
