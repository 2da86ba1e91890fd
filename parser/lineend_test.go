package parser

import (
	"bytes"
	"testing"
)

// lineEndRef is what lineEnd means, byte by byte.
func lineEndRef(b []byte, c byte) (int, bool) {
	end := bytes.IndexByte(b, '\n')
	if end < 0 {
		end = len(b)
	}
	return end, bytes.IndexByte(b[:end], c) >= 0
}

// lineEnd (the vector kernel where the CPU has one) and its generic
// version agree with the reference on every input, at every offset, so
// every alignment and every tail length is seen.
func FuzzLineEnd(f *testing.F) {
	f.Add([]byte(lineA+"\n"+lineB), byte('P'))
	f.Add([]byte("0123456789012345678901234567890P\n"), byte('P'))
	f.Add([]byte("01234567890123456789012345678901\nP"), byte('P'))
	f.Add([]byte("P\n"), byte('\n'))
	f.Add([]byte{}, byte('P'))
	f.Fuzz(func(t *testing.T, b []byte, c byte) {
		for i := range min(len(b)+1, 40) {
			in := b[i:]
			wantEnd, wantHas := lineEndRef(in, c)
			if end, has := lineEnd(in, c); end != wantEnd || has != wantHas {
				t.Fatalf("lineEnd(%q, %q) = %d, %v, want %d, %v", in, c, end, has, wantEnd, wantHas)
			}
			if end, has := lineEndGeneric(in, c); end != wantEnd || has != wantHas {
				t.Fatalf("lineEndGeneric(%q, %q) = %d, %v, want %d, %v", in, c, end, has, wantEnd, wantHas)
			}
		}
	})
}

// Table cases for the edges of the kernel's 32-byte steps.
func TestLineEnd(t *testing.T) {
	t.Parallel()
	long := bytes.Repeat([]byte("a"), 100)
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"no newline, short", []byte("abcP")},
		{"no newline, long", append(append([]byte{}, long...), 'P')},
		{"newline at 31", append(bytes.Repeat([]byte("P"), 31), '\n', 'x')},
		{"newline at 32", append(bytes.Repeat([]byte("a"), 32), '\n', 'P')},
		{"c after the newline in the same step", append([]byte("ab\nP"), long...)},
		{"c in the last byte of a step", append(append(bytes.Repeat([]byte("a"), 31), 'P'), append(long, '\n')...)},
		{"c in the tail", append(append([]byte{}, long[:40]...), 'P')},
	} {
		for _, c := range []byte{'P', '\n', 0} {
			wantEnd, wantHas := lineEndRef(tc.b, c)
			if end, has := lineEnd(tc.b, c); end != wantEnd || has != wantHas {
				t.Errorf("%s, %q: %d, %v, want %d, %v", tc.name, c, end, has, wantEnd, wantHas)
			}
		}
	}
}

func hasPairRef(b []byte) bool {
	return bytes.Contains(b, []byte("ke")) || bytes.Contains(b, []byte("Au"))
}

// hasPair (the vector kernel where the CPU has one) agrees with the
// reference at every offset and every length, so every alignment, every
// overlapped last step and every short input is seen.
func FuzzHasPair(f *testing.F) {
	f.Add([]byte(lineA))
	f.Add([]byte(lineB))
	f.Add([]byte("0123456789012345678901234567890k"))
	f.Add([]byte("0123456789012345678901234567890ke"))
	f.Add([]byte("01234567890123456789012345678901234567890123456789012345678901Au"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for i := range min(len(b)+1, 40) {
			in := b[i:]
			for j := len(in); j >= max(0, len(in)-40); j-- {
				want := hasPairRef(in[:j])
				if got := hasPair(in[:j]); got != want {
					t.Fatalf("hasPair(%q) = %v, want %v", in[:j], got, want)
				}
				if got := hasPairGeneric(in[:j]); got != want {
					t.Fatalf("hasPairGeneric(%q) = %v, want %v", in[:j], got, want)
				}
			}
		}
	})
}

// Table cases for the edges of the kernel's steps: a pair across two
// steps, in the overlapped last step, at the very end, and none.
func TestHasPair(t *testing.T) {
	t.Parallel()
	a := func(n int) string { return string(bytes.Repeat([]byte("a"), n)) }
	for _, tc := range []struct {
		name string
		s    string
		want bool
	}{
		{"empty", "", false},
		{"one byte", "k", false},
		{"short ke", "ke", true},
		{"short Au", "xAu", true},
		{"reversed", "eKuA" + a(60), false},
		{"k and e apart", "k" + a(40) + "e", false},
		{"across two steps", a(31) + "ke" + a(40), true},
		{"first byte of the second step", a(32) + "Au" + a(40), true},
		{"at the end of a long input", a(100) + "ke", true},
		{"at the end of 33 bytes", a(31) + "Au", true},
		{"at the start of 33 bytes", "ke" + a(31), true},
		{"none in 200 bytes", a(200), false},
		{"upper case K", a(40) + "Ke" + a(40), false},
	} {
		if got := hasPair([]byte(tc.s)); got != tc.want {
			t.Errorf("%s: hasPair = %v, want %v", tc.name, got, tc.want)
		}
	}
}
