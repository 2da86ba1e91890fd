package loggen

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestLifecycleDeterministicAndComplete(t *testing.T) {
	t.Parallel()
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
	text := a.String()
	kinds := map[string]int{}
	for _, at := range ta.Attacks {
		kinds[at.Kind]++
		if !strings.Contains(text, "["+at.Thief+"]") {
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
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		if stamp := l[1:24]; stamp < prev {
			t.Fatalf("out of order: %s after %s", stamp, prev)
		} else {
			prev = stamp
		}
	}
	if ta.Refusals != strings.Count(text, "Session does not exist from refresh_token") {
		t.Errorf("%d refusals counted, %d written", ta.Refusals, strings.Count(text, "Session does not exist"))
	}
}

// Lifecycle's bytes are pinned: LifecycleBehind's bookkeeping must not
// change what the direct scenario writes.
func TestLifecyclePinned(t *testing.T) {
	t.Parallel()
	var a bytes.Buffer
	if _, err := Lifecycle(&a, LifecycleConfig{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprintf("%x", sha256.Sum256(a.Bytes())), "64e76ff4e80df46d9726e3fdaa1414f1ae3cac18dd36b806dd8c856efe3b843e"; got != want {
		t.Errorf("Lifecycle's output changed: sha256 %s, pinned %s", got, want)
	}
}

// Behind a proxy, OpenUnison logs only proxy pods and in-cluster pods, each
// token request from outside has one proxy record naming its client, and
// one seed gives one set of logs.
func TestLifecycleBehind(t *testing.T) {
	t.Parallel()
	for _, f := range []ProxyFormat{ProxyNginx, ProxyNginxJSON, ProxyIstio} {
		run := func() ([]bytes.Buffer, []bytes.Buffer, Truth, ProxyStats) {
			ous, pods := make([]bytes.Buffer, 2), make([]bytes.Buffer, 3)
			truth, ps, err := LifecycleBehind([]io.Writer{&ous[0], &ous[1]}, LifecycleConfig{Seed: 3},
				Proxy{Format: f, Writers: []io.Writer{&pods[0], &pods[1], &pods[2]}, NoiseShare: -1})
			if err != nil {
				t.Fatal(err)
			}
			return ous, pods, truth, ps
		}
		ous, pods, truth, ps := run()
		ous2, pods2, _, _ := run()
		for i := range ous {
			if !bytes.Equal(ous[i].Bytes(), ous2[i].Bytes()) {
				t.Fatalf("%s: one seed, two logs for replica %d", f, i)
			}
		}
		var records int64
		for i := range pods {
			if !bytes.Equal(pods[i].Bytes(), pods2[i].Bytes()) {
				t.Fatalf("%s: one seed, two logs for proxy pod %d", f, i)
			}
			records += int64(strings.Count(pods[i].String(), "/token"))
		}
		if records != ps.TokenRecords || records == 0 {
			t.Errorf("%s: %d token records written, %d counted", f, records, ps.TokenRecords)
		}
		all := ous[0].String() + ous[1].String()
		proxies := pods[0].String() + pods[1].String() + pods[2].String()
		for _, at := range truth.Attacks {
			if InCluster(at.Thief) != strings.Contains(all, "["+at.Thief+"]") {
				t.Errorf("%s: attack %+v: OpenUnison logs the thief's address only from inside the cluster", f, at)
			}
			if !InCluster(at.Thief) && !strings.Contains(proxies, at.Thief) {
				t.Errorf("%s: attack %+v: no proxy names the thief", f, at)
			}
		}
		if strings.Contains(all, "198.51.100.") || strings.Contains(all, lcNAT) {
			t.Errorf("%s: OpenUnison logs a client outside the cluster", f)
		}
	}
}
