package kube

import (
	"context"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/internal/kubefake"
	"github.com/graceguard/graceguard/internal/testsync"
)

// A name Kubernetes never gives a pod, which path.Join would turn into the
// path of another namespace's pod: its log, asked for with the watcher's
// credentials, is that pod's.
const (
	elsewhere = "other-team"
	victim    = "payroll"
	climbing  = "../../" + elsewhere + "/pods/" + victim
)

// victimServer is a fake API server with a pod in another namespace whose
// log must never be read.
func victimServer(t *testing.T) *kubefake.Server {
	srv := kubefake.New(t)
	srv.AddPod(elsewhere, victim, labels, container)
	srv.Log(elsewhere, victim, container, t0, "payroll's secret line")
	return srv
}

// Before a pod's name is joined into a request's path it is checked: the
// request is not sent.
func TestAPIRefusesAPodNameThatIsNotOne(t *testing.T) {
	t.Parallel()
	srv := victimServer(t)
	a, err := newAPI(srv.ClientConfig(), ns, "", selector)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, ask := range []struct {
		what string
		do   func(context.Context) error
	}{
		{"log", func(ctx context.Context) error {
			body, err := a.podLog(ctx, climbing, url.Values{"container": {container}})
			if err == nil {
				body.Close()
			}
			return err
		}},
		{"pod", func(ctx context.Context) error { _, err := a.getPod(ctx, climbing); return err }},
	} {
		err := ask.do(ctx)
		if err == nil || !strings.Contains(err.Error(), `"`+climbing+`"`) || !strings.Contains(err.Error(), "RFC 1123 subdomain") {
			t.Errorf("asking for the %s of pod %q: %v, want an error naming it and what is wrong", ask.what, climbing, err)
		}
	}
	if reqs := srv.LogRequests(); len(reqs) != 0 {
		t.Errorf("the API server was asked for a log: %v", reqs)
	}
}

// A pod the API server lists or watches whose name Kubernetes would not
// give a pod (a broken or hostile server, or a proxy in front of it) is not
// followed: its log is not asked for, it is warned about once, safely
// quoted, and counted; the other pods are followed as ever.
func TestRefusesAPodWhoseNameIsNotOne(t *testing.T) {
	t.Parallel()
	srv := victimServer(t)
	srv.AddPod(ns, "ou-a", labels, container)
	srv.Log(ns, "ou-a", container, t0, "a")
	srv.AddPod(ns, climbing, labels, container) // listed at start-up
	srv.Log(ns, climbing, container, t0, "the climbing pod's own line")
	r := start(t, srv, Options{Container: container})
	pathA, pathB := ns+"/ou-a/"+container, ns+"/ou-b/"+container
	testsync.WaitFor(t, "ou-a's line", func() bool { return len(r.c.data(pathA)) == 1 })

	// One that comes later, through the watch, with a terminal's escape
	// and a newline in its name; then a good one.
	escaping := "ou-\x1b[2J\nfake=entry"
	srv.AddPod(ns, escaping, labels, container)
	srv.AddPod(ns, "ou-b", labels, container)
	srv.Log(ns, "ou-b", container, t0, "b")
	testsync.WaitFor(t, "ou-b's line", func() bool { return len(r.c.data(pathB)) == 1 })
	// The refused pods change (and are warned about no more); ou-a's
	// change, after theirs, says when the watch has applied them.
	srv.SetPodIP(ns, climbing, "10.0.0.9")
	srv.SetPodIP(ns, escaping, "10.0.0.8")
	srv.SetPodIP(ns, "ou-a", "10.0.0.1")
	testsync.WaitFor(t, "ou-a's address", func() bool { a, ok := r.src.Addr(pathA); return ok && a == netip.MustParseAddr("10.0.0.1") })

	for _, b := range r.c.all() {
		if b.Path != pathA && b.Path != pathB {
			t.Errorf("a batch from %q: %q", b.Path, b.Data)
		}
	}
	if got := r.src.PodsRefused(); got != 2 {
		t.Errorf("PodsRefused() = %d, want 2", got)
	}
	logs := r.log.String()
	const warning = "not following it"
	if n := strings.Count(logs, warning); n != 2 {
		t.Errorf("the refused pods were warned about %d times, want once each:\n%s", n, logs)
	}
	for _, want := range []string{`\"` + climbing + `\"`, `\"ou-\\x1b[2J\\nfake=entry\"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log does not name a refused pod as %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "\x1b") {
		t.Errorf("a pod's name put a terminal escape in the log:\n%q", logs)
	}
	if reason := r.src.NotReady(); reason != "" {
		t.Errorf("NotReady() = %q: the good pods are read", reason)
	}
	if _, ok := r.src.Addr(ns + "/" + climbing + "/" + container); ok {
		t.Error("the refused pod has an address: it is tracked")
	}
}

// Refused pods take no place among the MaxPods followed, and the names
// remembered to warn once are bounded by it too: past it, each sighting
// is counted, and not warned about.
func TestRefusedPodsAreBoundedByMaxPods(t *testing.T) {
	t.Parallel()
	srv := victimServer(t)
	// Listed in the order of their names: -ou, climbing, then ou-a.
	srv.AddPod(ns, climbing, labels, container)
	srv.AddPod(ns, "-ou", labels, container)
	srv.AddPod(ns, "ou-a", labels, container)
	srv.Log(ns, "ou-a", container, t0, "a")
	r := start(t, srv, Options{Container: container, MaxPods: 1})
	pathA := ns + "/ou-a/" + container
	testsync.WaitFor(t, "ou-a's line", func() bool { return len(r.c.data(pathA)) == 1 })
	if w := r.src.PodsWaiting(); w != 0 {
		t.Errorf("PodsWaiting() = %d: a refused pod took ou-a's place", w)
	}
	srv.SetPodIP(ns, climbing, "10.0.0.8")
	srv.SetPodIP(ns, "ou-a", "10.0.0.1")
	testsync.WaitFor(t, "ou-a's address", func() bool { a, ok := r.src.Addr(pathA); return ok && a == netip.MustParseAddr("10.0.0.1") })
	// -ou remembered; climbing, past MaxPods, counted at the list and at
	// its change.
	if got := r.src.PodsRefused(); got != 3 {
		t.Errorf("PodsRefused() = %d, want 3", got)
	}
	if n := strings.Count(r.log.String(), "level=WARN msg=\"the API server lists a pod that is not one"); n != 1 {
		t.Errorf("%d warnings, want 1 (MaxPods names):\n%s", n, r.log.String())
	}
}
