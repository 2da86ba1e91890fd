package pipeline

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// A quitReader passes on every byte and the error that ends the stream,
// whatever the sizes of the reads on either side.
func TestQuitReaderPassesTheStreamOn(t *testing.T) {
	t.Parallel()
	data := strings.Repeat("0123456789abcdef", 20000) // 320 kB: several of its reads
	boom := errors.New("boom")
	tests := []struct {
		name    string
		r       io.Reader
		want    string
		wantErr error
	}{
		{"whole", strings.NewReader(data), data, nil},
		{"a byte at a time", iotest.OneByteReader(strings.NewReader(data[:5000])), data[:5000], nil},
		{"data with EOF", iotest.DataErrReader(strings.NewReader(data)), data, nil},
		{"an error after data", io.MultiReader(strings.NewReader(data[:100]), iotest.ErrReader(boom)), data[:100], boom},
		{"empty", strings.NewReader(""), "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := newQuitReader(context.Background(), tt.r, nil)
			got, err := io.ReadAll(iotest.HalfReader(q))
			if string(got) != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("read %d bytes (want %d), err %v (want %v)", len(got), len(tt.want), err, tt.wantErr)
			}
		})
	}
}

// A Read waiting on a stream that sends nothing more is given up when quit
// closes or the context is done; what came before was read.
func TestQuitReaderGivesUpAWaitingRead(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"quit", "context"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			pr, pw := io.Pipe()
			defer pw.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			quit := make(chan struct{})
			q := newQuitReader(ctx, pr, quit)
			go pw.Write([]byte("first\n"))
			buf := make([]byte, 64)
			n, err := q.Read(buf)
			if err != nil || !bytes.Equal(buf[:n], []byte("first\n")) {
				t.Fatalf("first read: %q, %v", buf[:n], err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := q.Read(buf)
				done <- err
			}()
			want := errGivenUp
			if how == "quit" {
				close(quit)
			} else {
				cancel()
				want = context.Canceled
			}
			select {
			case err := <-done:
				if !errors.Is(err, want) {
					t.Errorf("the waiting read returned %v, want %v", err, want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the waiting read was not given up")
			}
		})
	}
}

// eofWith returns its bytes and io.EOF in one read, as some readers do.
type eofWith struct{ s string }

func (e eofWith) Read(p []byte) (int, error) { return copy(p, e.s), io.EOF }

// Given up, a quitReader stays given up, however often it is read; an
// empty read reads nothing and says nothing of the end.
func TestQuitReaderAfterTheEnd(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	defer pw.Close()
	quit := make(chan struct{})
	q := newQuitReader(context.Background(), pr, quit)
	go pw.Write([]byte("first\n"))
	buf := make([]byte, 64)
	if _, err := q.Read(buf); err != nil {
		t.Fatal(err)
	}
	close(quit)
	done := make(chan error)
	go func() {
		for range 3 {
			_, err := q.Read(buf)
			done <- err
		}
	}()
	for i := range 3 {
		select {
		case err := <-done:
			if !errors.Is(err, errGivenUp) {
				t.Errorf("read %d after the give-up: %v", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("read %d after the give-up hangs", i)
		}
	}

	e := newQuitReader(context.Background(), eofWith{"abc"}, nil)
	if n, err := e.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("first byte: %d, %v", n, err)
	}
	if n, err := e.Read(nil); n != 0 || err != nil {
		t.Errorf("an empty read with 2 bytes unread: %d, %v", n, err)
	}
	if got, err := io.ReadAll(e); string(got) != "bc" || err != nil {
		t.Errorf("the rest: %q, %v", got, err)
	}
}
