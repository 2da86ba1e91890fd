package kube

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
)

// A pod's log body is whatever the container wrote, behind the API's
// timestamps: readLines hands on every byte of it, line by line, each
// whole line with its newline; and a line Keep refused, blanked, keeps its
// length and reads at the same time.
func FuzzPodLogLines(f *testing.F) {
	f.Add([]byte("2026-11-23T10:00:00.123456789Z [2026-11-23 10:00:00,123][t] INFO  x\n2026-11-23T10:00:01Z y\n"))
	f.Add([]byte("2026-11-23T10:00:00Z a\r\n\n2026-11-23T10:00:00+01:00 b"))
	f.Add([]byte(" leading space\n2026-11-23T10:00:00Z\n\xff\xfe\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		out := make(chan lineMsg)
		go readLines(context.Background(), bytes.NewReader(body), out)
		var got []byte
		for {
			m := <-out
			if m.err != nil && !errors.Is(m.err, io.EOF) {
				t.Fatalf("reading %q: %v", body, m.err)
			}
			if m.err == nil && (len(m.line) == 0 || m.line[len(m.line)-1] != '\n' || bytes.IndexByte(m.line, '\n') != len(m.line)-1) {
				t.Fatalf("line %q of %q is not one whole line", m.line, body)
			}
			got = append(got, m.line...)
			if len(m.line) > 0 {
				checkBlank(t, m.line)
			}
			if m.err != nil {
				break
			}
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("lines %q of %q", got, body)
		}
	})
}

func checkBlank(t *testing.T, line []byte) {
	t.Helper()
	if line[len(line)-1] != '\n' {
		line = append(line[:len(line):len(line)], '\n') // as handOn ends it
	}
	b := blankLine(line)
	at, ok := lineTime(line)
	bat, bok := lineTime(b)
	if len(b) != len(line) || b[len(b)-1] != '\n' || ok != bok || !at.Equal(bat) {
		t.Fatalf("blanked %q to %q (time %v %v, now %v %v)", line, b, at, ok, bat, bok)
	}
}
