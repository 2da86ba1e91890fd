package idp

import (
	"context"
	"testing"
	"time"
)

// The worker that went idle last is handed out first, as Undertow's pool
// does: a request after another runs on the thread that one freed (a
// queue, as before, moved each request to the next thread in turn, so the
// bundled IdP never logged a replay on its refresh's thread, which a real
// OpenUnison does); concurrent requests never share one; with every worker
// busy a request waits, and gives up with its context.
func TestThreadsHandOutTheLastFreedWorkerFirst(t *testing.T) {
	t.Parallel()
	th := newThreads(3)
	take := func() int {
		t.Helper()
		i, ok := th.acquire(context.Background())
		if !ok {
			t.Fatal("no worker for a request with workers idle")
		}
		return i
	}
	first := take()
	th.release(first)
	a := take()
	if a != first {
		t.Errorf("the request after %s's ran on %s, want the same worker", th.name(first), th.name(a))
	}
	b, c := take(), take()
	if b == a || c == a || b == c {
		t.Fatalf("concurrent requests on workers %d, %d and %d, want three different", a, b, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if i, ok := th.acquire(ctx); ok {
		t.Fatalf("a fourth request got worker %d of three busy ones", i)
	}
	th.release(b)
	th.release(c)
	if got := take(); got != c {
		t.Errorf("after %s and then %s went idle the next request ran on %s, want %s", th.name(b), th.name(c), th.name(got), th.name(c))
	}
	// With every worker busy again, whether the waiter asks before or after
	// a is freed, a is the only worker it can get.
	if got := take(); got != b {
		t.Fatalf("the last idle worker was %s, want %s", th.name(got), th.name(b))
	}
	done := make(chan int)
	go func() { i, _ := th.acquire(context.Background()); done <- i }()
	th.release(a)
	if got := <-done; got != a {
		t.Errorf("a waiting request got %s, want %s, the one freed", th.name(got), th.name(a))
	}
}
