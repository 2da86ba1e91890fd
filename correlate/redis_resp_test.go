package correlate

import (
	"bufio"
	"errors"
	"io"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// The reply reader reads what Redis answers and nothing it does not.
func TestReadReply(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want any
		err  bool
	}{
		{"+OK\r\n", "OK", false},
		{"-ERR no\r\n", replyError("ERR no"), false},
		{":-42\r\n", int64(-42), false},
		{"$3\r\nabc\r\n", "abc", false},
		{"$0\r\n\r\n", "", false},
		{"$-1\r\n", nil, false},
		{"*-1\r\n", nil, false},
		{"*2\r\n*1\r\n:1\r\n$-1\r\n", []any{[]any{int64(1)}, nil}, false},
		{"*0\r\n", []any{}, false},
		{"$3\r\nabcd\r\n", nil, true},
		{"$99999999999\r\n", nil, true},
		{"*-2\r\n", nil, true},
		{":x\r\n", nil, true},
		{"%1\r\n", nil, true},
		{"+OK\n", nil, true},
		{"\r\n", nil, true},
		{"$5\r\nab", nil, true},
		{":12345678901234567890\r\n", nil, true},
		{":-9223372036854775808\r\n", int64(-9223372036854775808), false},
		{"$3\r\nabc\n", nil, true},
	} {
		got, err := readReply(bufio.NewReader(strings.NewReader(c.in)))
		if (err != nil) != c.err || !c.err && !reflect.DeepEqual(got, c.want) {
			t.Errorf("readReply(%q) = %#v, %v; want %#v (error %v)", c.in, got, err, c.want, c.err)
		}
		answered, err := skipReply(bufio.NewReader(strings.NewReader(c.in)))
		wantAnswered, _ := c.want.(error)
		if (err != nil) != c.err || !c.err && answered != wantAnswered {
			t.Errorf("skipReply(%q) = %v, %v; want %v (error %v)", c.in, answered, err, wantAnswered, c.err)
		}
	}
}

// appendCommand writes what Redis reads, and refuses what it cannot write.
func TestAppendCommand(t *testing.T) {
	t.Parallel()
	got, err := appendCommand(nil, []any{"ZADD", "k", int64(-5), 7, uint64(8), []byte("m"), true, 1.5})
	want := "*8\r\n$4\r\nZADD\r\n$1\r\nk\r\n$2\r\n-5\r\n$1\r\n7\r\n$1\r\n8\r\n$1\r\nm\r\n$1\r\n1\r\n$3\r\n1.5\r\n"
	if err != nil || string(got) != want {
		t.Errorf("appendCommand = %q, %v; want %q", got, err, want)
	}
	if _, err := appendCommand(nil, []any{"SET", struct{}{}}); err == nil {
		t.Error("a struct argument was written")
	}
}

// Whatever bytes come back, readReply returns a reply or an error, never
// panics, and never reads a reply's length as memory to allocate past
// maxBulk; skipReply, which keeps nothing, reads the same replies as far,
// and fails where it fails (how far a failed read went does not matter:
// the connection is dropped).
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "-ERR x\r\n", ":1\r\n", "$3\r\nabc\r\n", "*2\r\n$-1\r\n*1\r\n:2\r\n", "$-1\r\n", "*3\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		rd := bufio.NewReader(strings.NewReader(string(in)))
		skip := bufio.NewReader(strings.NewReader(string(in)))
		for range 8 {
			v, err := readReply(rd)
			answered, skipErr := skipReply(skip)
			if (err != nil) != (skipErr != nil) || err == nil && rd.Buffered() != skip.Buffered() {
				t.Fatalf("readReply: %v (%d bytes left), skipReply: %v (%d left)", err, rd.Buffered(), skipErr, skip.Buffered())
			}
			if e, _ := v.(error); err == nil && e != answered {
				t.Fatalf("readReply answered %v, skipReply %v", v, answered)
			}
			if err != nil {
				if !errors.Is(err, errProtocol) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("error %v is neither a protocol error nor the input's end", err)
				}
				return
			}
		}
	})
}

// A reply's array length is a promise of what follows, not memory to
// allocate: a corrupt or hostile length with nothing behind it must not
// make the reader allocate more than maxBulk bytes (an array of maxBulk
// entries is 16 times that: a gigabyte before the input's end is seen).
func TestReadReplyDoesNotAllocateAnArrayOnItsLengthAlone(t *testing.T) {
	in := "*" + strconv.Itoa(maxBulk) + "\r\n:1\r\n"
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readReply(bufio.NewReader(strings.NewReader(in)))
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("a truncated array was read")
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > maxBulk {
		t.Errorf("reading a %d-entry array header allocated %d MB, more than maxBulk (%d MB)", maxBulk, got>>20, maxBulk>>20)
	}
}
