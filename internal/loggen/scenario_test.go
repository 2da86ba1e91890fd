package loggen

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
)

func TestLifecycleDeterministicAndComplete(t *testing.T) {
	var a, b bytes.Buffer
	ta, err := Lifecycle(&a, LifecycleConfig{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lifecycle(&b, LifecycleConfig{Seed: 7}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("one seed, two logs")
	}
	kinds := map[string]int{}
	for _, at := range ta.Attacks {
		kinds[at.Kind]++
		if !strings.Contains(a.String(), "["+at.Thief+"]") {
			t.Errorf("attack %+v: the thief's address is not in the log", at)
		}
	}
	if kinds["replay"] == 0 || kinds["refresh-first"] == 0 || kinds["taken"] == 0 {
		t.Errorf("attacks %v: want every kind", kinds)
	}
	for _, role := range []string{"home", "office", "racer", "late-racer", "in-cluster", "mover"} {
		if len(ta.Benign[role]) == 0 {
			t.Errorf("no %s in the cast", role)
		}
	}
	// Lines are in time order, as one replica writes them.
	prev := ""
	for _, l := range strings.Split(strings.TrimSpace(a.String()), "\n") {
		if stamp := l[1:24]; stamp < prev {
			t.Fatalf("out of order: %s after %s", stamp, prev)
		} else {
			prev = stamp
		}
	}
	if ta.Refusals != strings.Count(a.String(), "Session does not exist from refresh_token") {
		t.Errorf("%d refusals counted, %d written", ta.Refusals, strings.Count(a.String(), "Session does not exist"))
	}
}

// Lifecycle's bytes are pinned: LifecycleBehind's bookkeeping must not
// change what the direct scenario writes.
func TestLifecyclePinned(t *testing.T) {
	var a bytes.Buffer
	if _, err := Lifecycle(&a, LifecycleConfig{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprintf("%x", sha256.Sum256(a.Bytes())), "64e76ff4e80df46d9726e3fdaa1414f1ae3cac18dd36b806dd8c856efe3b843e"; got != want {
		t.Errorf("Lifecycle's output changed: sha256 %s, pinned %s", got, want)
	}
}
