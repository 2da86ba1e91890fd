package kube

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/kubefake"
	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/source"
)

const (
	ns        = "openunison"
	app       = "openunison-orchestra"
	selector  = "app=openunison-orchestra"
	container = "openunison-orchestra"
)

var (
	labels = map[string]string{"app": app}
	t0     = time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)
)

// stamped is a line as the API sends it with timestamps=true.
func stamped(at time.Time, text string) string {
	return at.UTC().Format(time.RFC3339Nano) + " " + text + "\n"
}

// collector keeps every batch a Source sends.
type collector struct {
	mu      sync.Mutex
	batches []source.Batch
}

func (c *collector) take(in <-chan source.Batch) {
	for b := range in {
		c.mu.Lock()
		c.batches = append(c.batches, b)
		c.mu.Unlock()
	}
}

func (c *collector) all() []source.Batch {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]source.Batch(nil), c.batches...)
}

// data returns the lines handed on for one source path, in order.
func (c *collector) data(path string) []string {
	var out []string
	for _, b := range c.all() {
		if b.Path == path && len(b.Data) > 0 {
			out = append(out, string(b.Data))
		}
	}
	return out
}

func (c *collector) ended(key string) bool {
	for _, b := range c.all() {
		if b.Key == key && b.Ended {
			return true
		}
	}
	return false
}

func (c *collector) idle(path string) bool {
	for _, b := range c.all() {
		if b.Path == path && b.Idle {
			return true
		}
	}
	return false
}

// kinds says what the batches of one source path were from its first
// line on, in order: "data", "idle", or "away", a run of Away batches said
// once. What came before the first line is left out: a connection whose
// first line is slow to come says the log is quiet first (Idle), or not,
// depending on the machine's load.
func (c *collector) kinds(path string) []string {
	var kinds []string
	for _, b := range c.all() {
		if b.Path != path || len(kinds) == 0 && len(b.Data) == 0 {
			continue
		}
		switch {
		case len(b.Data) > 0:
			kinds = append(kinds, "data")
		case b.Away:
			if len(kinds) == 0 || kinds[len(kinds)-1] != "away" {
				kinds = append(kinds, "away")
			}
		case b.Idle:
			kinds = append(kinds, "idle")
		}
	}
	return kinds
}

type running struct {
	src  *Source
	c    *collector
	log  *testsync.Buffer
	stop func()
}

// fast makes a test's waits short.
func fast(opt Options) Options {
	setDefault(&opt.Idle, 30*time.Millisecond)
	setDefault(&opt.MinBackoff, 10*time.Millisecond)
	setDefault(&opt.MaxBackoff, 100*time.Millisecond)
	setDefault(&opt.Reconnect, 50*time.Millisecond)
	setDefault(&opt.DrainGrace, 300*time.Millisecond)
	return opt
}

// start runs a Source against srv until the test ends or stop.
func start(t *testing.T, srv *kubefake.Server, opt Options) *running {
	t.Helper()
	if opt.Config == nil {
		opt.Config = srv.ClientConfig()
	}
	if opt.Namespace == "" {
		opt.Namespace = ns
	}
	if opt.Pod == "" && opt.Selector == "" {
		opt.Selector = selector
	}
	r := &running{c: &collector{}, log: &testsync.Buffer{}}
	opt.Logger = slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	out := make(chan source.Batch, 4)
	src, err := New(fast(opt), out)
	if err != nil {
		t.Fatal(err)
	}
	r.src = src
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx)
		close(out)
	}()
	taken := make(chan struct{})
	go func() {
		r.c.take(out)
		close(taken)
	}()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return on cancellation")
			}
			<-taken
		})
	}
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("source log:\n%s", r.log.String())
		}
	})
	return r
}

// checkStreams checks every stream's batches: one whole line a data batch,
// offsets that follow on, a cursor on every batch that parses, and nothing
// after Ended.
func checkStreams(t *testing.T, batches []source.Batch) {
	t.Helper()
	end := map[string]int64{}
	over := map[string]bool{}
	for _, b := range batches {
		if over[b.Key] {
			t.Errorf("%s: a batch after Ended", b.Key)
		}
		if _, err := parseCursor(b.Cursor); err != nil {
			t.Errorf("%s: %v", b.Key, err)
		}
		if want, ok := end[b.Key]; ok && b.Offset != want {
			t.Errorf("%s: batch at offset %d, want %d", b.Key, b.Offset, want)
		}
		if len(b.Data) > 0 && (bytes.Count(b.Data, []byte("\n")) != 1 || b.Data[len(b.Data)-1] != '\n') {
			t.Errorf("%s: batch %q is not one whole line", b.Key, b.Data)
		}
		if b.ID.Ino != 0 || b.ID.Fingerprint == "" || !strings.HasSuffix(b.Key, "#"+b.ID.Fingerprint) {
			t.Errorf("%s: identity %+v", b.Key, b.ID)
		}
		end[b.Key] = b.Offset + int64(len(b.Data))
		over[b.Key] = b.Ended
	}
}

// lines makes n distinct log lines.
func lines(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("[2026-11-23 10:00:%02d,000][main] INFO  %s - line %d", i%60, prefix, i)
	}
	return out
}

func stampAll(at time.Time, texts []string) []string {
	out := make([]string, len(texts))
	for i, t := range texts {
		out[i] = stamped(at, t)
	}
	return out
}
