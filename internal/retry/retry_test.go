package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSleep(t *testing.T) {
	t.Parallel()
	live := context.Background()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want error
	}{
		{"waits out d", live, time.Millisecond, nil},
		{"zero returns at once", live, 0, nil},
		{"an ended context ends it", ended, time.Hour, context.Canceled},
		{"an ended context with zero", ended, 0, context.Canceled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := Sleep(tt.ctx, tt.d); !errors.Is(err, tt.want) {
				t.Errorf("Sleep = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30", 30 * time.Second, true},
		{" 0 ", 0, true},
		{"Mon, 23 Nov 2026 10:01:00 GMT", time.Minute, true},
		{"Mon, 23 Nov 2026 09:00:00 GMT", 0, true}, // in the past: now
		{"99999999999999999", time.Duration(maxSeconds) * time.Second, true},
		{"-5", 0, false},
		{"soon", 0, false},
		{"1.5", 0, false},
		{"", 0, false},
	} {
		if got, ok := After(tt.in, now); got != tt.want || ok != tt.ok {
			t.Errorf("After(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzAfter: a server's Retry-After is untrusted bytes; whatever it holds,
// After gives a wait that is not negative, or none.
func FuzzAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", " 7 ", "-1", "9223372036854775807", "99999999999999999999",
		"Wed, 21 Oct 2015 07:28:00 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "1.5", "soon"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := After(v, now)
		if d < 0 || !ok && d != 0 {
			t.Fatalf("After(%q) = %v, %v", v, d, ok)
		}
	})
}
