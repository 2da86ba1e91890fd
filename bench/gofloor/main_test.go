package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestCountLinesCountsAsGrepDoes(t *testing.T) {
	long := strings.Repeat("y", 300<<10)
	for _, tc := range []struct {
		name, in string
		want     int
		err      bool
	}{
		{"empty", "", 0, false},
		{"a line twice holding it counts once", "x x\nb\n", 1, false},
		{"the last line unterminated", "b\nax", 1, false},
		{"no match", "a\nb\n", 0, false},
		{"a match across reads", strings.Repeat("b\n", 200<<10) + "ax\n", 1, false},
		{"a line longer than the buffer", long + "\n", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []struct {
				name string
				wrap func(io.Reader) io.Reader
			}{{"whole", func(r io.Reader) io.Reader { return r }}, {"a byte a read", iotest.OneByteReader}} {
				if tc.err && r.name != "whole" {
					continue // a byte a read of 300 KiB says nothing more
				}
				got, err := countLines(r.wrap(strings.NewReader(tc.in)), []byte("x"))
				if (err != nil) != tc.err {
					t.Fatalf("%s: err %v, want error %v", r.name, err, tc.err)
				}
				if !tc.err && got != tc.want {
					t.Errorf("%s: %d lines, want %d", r.name, got, tc.want)
				}
			}
		})
	}
	// The same as a plain count of lines holding the pattern, over lines
	// that cross the buffer's end at every offset.
	var b bytes.Buffer
	want := 0
	for i := 0; b.Len() < 1<<20; i++ {
		line := strings.Repeat("b", i%500)
		if i%7 == 0 {
			line += "x"
			want++
		}
		b.WriteString(line + "\n")
	}
	if got, err := countLines(bytes.NewReader(b.Bytes()), []byte("x")); err != nil || got != want {
		t.Errorf("1 MiB of lines: %d, %v; want %d", got, err, want)
	}
}
