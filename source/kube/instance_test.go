package kube

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/kubefake"
	"github.com/graceguard/graceguard/internal/testsync"
)

// A container that restarts while the API server's word of it lags is
// not read as its old instance: the log endpoint serves the container's
// latest instance, so the old instance's stream, reconnecting after its
// container stopped and before the pod's status said so, was served the
// new instance's lines under the old id (and its offsets and cursor went
// on from them). Whether the pod watch lags (a get of the pod knows, which
// is all an instance nothing was read from has) or the API server itself
// has not heard from the kubelet (the old instance's last lines are not in
// the log served), each instance's lines are its own, once each.
func TestRestartSeenLateIsNotReadAsTheOldInstance(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		hold   func(srv *kubefake.Server, hold bool)
		logged bool // the old instance logs before it stops
	}{
		{"the pod watch lags", (*kubefake.Server).HoldWatches, true},
		{"the API server lags the kubelet", (*kubefake.Server).HoldStatus, true},
		{"nothing read yet, the pod watch lags", (*kubefake.Server).HoldWatches, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := kubefake.New(t)
			srv.AddPod(ns, "ou-a", labels, container)
			first := srv.ContainerID(ns, "ou-a", container)
			var want []string // the old instance's
			if tt.logged {
				srv.Log(ns, "ou-a", container, t0, lines("first", 3)...)
				want = stampAll(t0, lines("first", 3))
			}
			r := start(t, srv, Options{Container: container})
			path := ns + "/ou-a/" + container
			testsync.WaitFor(t, "the first instance read", func() bool { return len(r.c.data(path)) == len(want) && r.c.idle(path) })

			tt.hold(srv, true)
			if tt.logged {
				srv.Log(ns, "ou-a", container, t0.Add(time.Second), "last words")
				want = append(want, stamped(t0.Add(time.Second), "last words"))
			}
			srv.Restart(ns, "ou-a", container)
			second := srv.ContainerID(ns, "ou-a", container)
			srv.Log(ns, "ou-a", container, t0.Add(2*time.Second), lines("second", 2)...)
			testsync.WaitFor(t, "the old stream's end, or its reconnection refused or misled", func() bool {
				return r.c.ended("kube:"+path+"#"+first) || strings.Contains(r.log.String(), "not this instance's") ||
					slices.ContainsFunc(byID(r.c, first), func(l string) bool { return strings.Contains(l, "second") })
			})
			tt.hold(srv, false)
			testsync.WaitFor(t, "the old stream's end", func() bool { return r.c.ended("kube:" + path + "#" + first) })
			testsync.WaitFor(t, "the new instance's lines", func() bool { return len(byID(r.c, second)) == 2 })

			if got := byID(r.c, first); !slices.Equal(got, want) {
				t.Errorf("first instance: %q, want %q", got, want)
			}
			if got, want := byID(r.c, second), stampAll(t0.Add(2*time.Second), lines("second", 2)); !slices.Equal(got, want) {
				t.Errorf("second instance: %q, want %q", got, want)
			}
			checkStreams(t, r.c.all())
		})
	}
}

// byID is the lines handed on for one container instance, in order.
func byID(c *collector, id string) []string {
	var out []string
	for _, b := range c.all() {
		if b.ID.Fingerprint == id && len(b.Data) > 0 {
			out = append(out, string(b.Data))
		}
	}
	return out
}

// A followed log that the kubelet rotated no longer holds the last lines
// read, as a newer instance's would not; while the API server still says
// the instance runs, it is refused for TrustAfter, then read on from the
// cursor rather than never again.
func TestRotatedLogIsReadOnAfterTrustAfter(t *testing.T) {
	t.Parallel()
	for _, getPod := range []bool{true, false} {
		t.Run(fmt.Sprintf("get pod %v", getPod), func(t *testing.T) {
			t.Parallel()
			testRotatedLogIsReadOn(t, getPod)
		})
	}
}

// testRotatedLogIsReadOn: with get on pods, the fresh read of the pod
// vouches for the instance after TrustAfter; without it (a role with list
// and watch only), the pod watch does after three times as long, or the
// rotated log would be refused for ever.
func testRotatedLogIsReadOn(t *testing.T, getPod bool) {
	srv := kubefake.New(t)
	srv.DenyGetPod(!getPod)
	srv.AddPod(ns, "ou-a", labels, container)
	srv.Log(ns, "ou-a", container, t0, "before the rotation")
	r := start(t, srv, Options{Container: container, TrustAfter: 200 * time.Millisecond})
	path := ns + "/ou-a/" + container
	testsync.WaitFor(t, "the first line", func() bool { return len(r.c.data(path)) == 1 })
	// Away while the log rotates: the stream comes back to the new file.
	srv.DenyLogs(true)
	srv.CutLogs(false)
	testsync.WaitFor(t, "the stream refused", func() bool { return r.src.NotReady() != "" })
	srv.RotateLog(ns, "ou-a", container)
	srv.Log(ns, "ou-a", container, t0.Add(time.Second), "after the rotation")
	srv.DenyLogs(false)
	testsync.WaitFor(t, "the line after the rotation", func() bool { return len(r.c.data(path)) >= 2 })
	want := []string{stamped(t0, "before the rotation"), stamped(t0.Add(time.Second), "after the rotation")}
	if got := r.c.data(path); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if log := r.log.String(); !strings.Contains(log, "not this instance's") || !strings.Contains(log, "taking its log as rotated") {
		t.Errorf("the refusal and the trust are not in the log:\n%s", log)
	}
	if log := r.log.String(); strings.Contains(log, "could not be read to tell a rotated log") == getPod {
		t.Errorf("get on pods %v, and the log's word on it is wrong:\n%s", getPod, log)
	}
	checkStreams(t, r.c.all())
}
