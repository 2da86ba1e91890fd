package kube

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/kubefake"
	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/source"
)

// With MaxStreams logs being read, a further container waits for one of
// them to end and starts then, the one passed over first first; it is
// logged and counted once, however often its pod's status changes (it was
// passed over until its own pod's status changed, and warned about at
// every change).
func TestWaitsForAFreeStream(t *testing.T) {
	t.Parallel()
	srv := kubefake.New(t)
	pods := []string{"ou-a", "ou-b", "ou-c", "ou-d"} // listed in this order
	for _, p := range pods {
		srv.AddPod(ns, p, labels, container)
		srv.Log(ns, p, container, t0, p+" line")
	}
	path := func(p string) string { return ns + "/" + p + "/" + container }
	r := start(t, srv, Options{Container: container, MaxStreams: 2})
	testsync.WaitFor(t, "the first two pods' lines", func() bool {
		return len(r.c.data(path("ou-a"))) == 1 && len(r.c.data(path("ou-b"))) == 1
	})
	for i, p := range pods[2:] {
		srv.SetPodIP(ns, p, "10.1.0."+string(rune('3'+i)))
		testsync.WaitFor(t, p+"'s new status", func() bool { _, ok := r.src.Addr(path(p)); return ok })
	}
	if got := strings.Count(r.log.String(), "too many container logs"); got != 2 {
		t.Errorf("%d warnings of the cap, want one for each waiting container", got)
	}
	if got := r.src.StreamsWaiting(); got != 2 {
		t.Errorf("StreamsWaiting() = %d, want 2", got)
	}

	srv.Stop(ns, "ou-a", container)
	testsync.WaitFor(t, "ou-c's line once ou-a's stream ended", func() bool { return len(r.c.data(path("ou-c"))) == 1 })
	if got := r.c.data(path("ou-d")); len(got) != 0 {
		t.Errorf("ou-d read with one stream free, which ou-c waited for longer: %q", got)
	}
	srv.Stop(ns, "ou-b", container)
	testsync.WaitFor(t, "ou-d's line once ou-b's stream ended", func() bool { return len(r.c.data(path("ou-d"))) == 1 })
	if got, want := r.c.data(path("ou-d")), []string{stamped(t0, "ou-d line")}; !slices.Equal(got, want) {
		t.Errorf("ou-d: %q, want %q", got, want)
	}
	if got := r.src.StreamsDeferred(); got != 2 {
		t.Errorf("StreamsDeferred() = %d, want 2", got)
	}
	if got := r.src.StreamsWaiting(); got != 0 {
		t.Errorf("StreamsWaiting() = %d after both started, want 0", got)
	}
	checkStreams(t, r.c.all())
}

// Past MaxPods a further pod waits, logged and counted once however often
// its status changes (it was warned about at each change, and followed
// only if a change came after another pod went), and is followed when a
// pod goes.
func TestWaitsForRoomForAPod(t *testing.T) {
	t.Parallel()
	srv := kubefake.New(t)
	srv.AddPod(ns, "ou-a", labels, container)
	srv.Log(ns, "ou-a", container, t0, "ou-a line")
	path := func(p string) string { return ns + "/" + p + "/" + container }
	r := start(t, srv, Options{Container: container, MaxPods: 1})
	testsync.WaitFor(t, "ou-a's line", func() bool { return len(r.c.data(path("ou-a"))) == 1 })
	srv.AddPod(ns, "ou-b", labels, container)
	srv.Log(ns, "ou-b", container, t0, "ou-b line")
	testsync.WaitFor(t, "ou-b waiting", func() bool { return r.src.PodsWaiting() == 1 })
	srv.SetPodIP(ns, "ou-b", "10.1.0.9")
	srv.SetPodIP(ns, "ou-b", "10.1.0.10")
	srv.DeletePod(ns, "ou-a")
	testsync.WaitFor(t, "ou-b's line once ou-a went", func() bool { return len(r.c.data(path("ou-b"))) == 1 })
	if got := strings.Count(r.log.String(), "too many pods"); got != 1 {
		t.Errorf("%d warnings of the pod cap, want one", got)
	}
	if w, d := r.src.PodsWaiting(), r.src.PodsDeferred(); w != 0 || d != 1 {
		t.Errorf("PodsWaiting() = %d, PodsDeferred() = %d; want 0 and 1", w, d)
	}
	if a, ok := r.src.Addr(path("ou-b")); !ok || a.String() != "10.1.0.10" {
		t.Errorf("ou-b followed with address %v %v, want its latest status's 10.1.0.10", a, ok)
	}
}

// A checkpointed container of a pod waiting at MaxPods whose pod goes
// before it is followed has its checkpoint Ended, as at start-up for one
// no pod names: the pipeline drops its position (it was kept, waiting
// with a pod that was gone, until the next start).
func TestWaitingPodGoneEndsItsCheckpoint(t *testing.T) {
	t.Parallel()
	srv := kubefake.New(t)
	pathB, id, pos := checkpointedPods(srv)
	r := start(t, srv, Options{Container: container, MaxPods: 1, Positions: []source.Position{pos}})
	testsync.WaitFor(t, "ou-a's line", func() bool { return len(r.c.data(ns+"/ou-a/"+container)) == 1 })
	testsync.WaitFor(t, "ou-b waiting", func() bool { return r.src.PodsWaiting() == 1 })
	srv.DeletePod(ns, "ou-b")
	testsync.WaitFor(t, "ou-b's checkpoint Ended", func() bool { return r.c.ended("kube:" + pathB + "#" + id) })
	for _, b := range r.c.all() {
		if b.Path == pathB && b.Ended && (b.Offset != 500 || b.Cursor != pos.Cursor) {
			t.Errorf("ou-b Ended at %d %q, want the checkpoint's 500 %q", b.Offset, b.Cursor, pos.Cursor)
		}
	}
	if got := r.c.data(pathB); len(got) != 0 {
		t.Errorf("ou-b read after its pod went: %q", got)
	}
}

// A pod waiting at MaxPods since start-up is followed as it would have
// been then: its container's instance from before start-up is history,
// passed over, not read once the pod is followed.
func TestWaitingPodPassesOverHistory(t *testing.T) {
	t.Parallel()
	srv := kubefake.New(t)
	srv.AddPod(ns, "ou-a", labels, container)
	srv.AddPod(ns, "ou-b", labels, container)
	srv.Log(ns, "ou-b", container, t0, "an earlier instance's")
	srv.Restart(ns, "ou-b", container)
	srv.Log(ns, "ou-b", container, t0.Add(time.Minute), "the running one's")
	r := start(t, srv, Options{Container: container, MaxPods: 1})
	testsync.WaitFor(t, "ou-b waiting", func() bool { return r.src.PodsWaiting() == 1 })
	srv.DeletePod(ns, "ou-a")
	pathB := ns + "/ou-b/" + container
	testsync.WaitFor(t, "ou-b's line", func() bool { return len(r.c.data(pathB)) > 0 })
	time.Sleep(200 * time.Millisecond)
	if got, want := r.c.data(pathB), []string{stamped(t0.Add(time.Minute), "the running one's")}; !slices.Equal(got, want) {
		t.Errorf("ou-b: %q, want %q", got, want)
	}
}

// A checkpointed container of a pod waiting at MaxPods that restarted
// twice meanwhile is no longer named by its pod's status: once the pod is
// followed, its checkpoint is Ended, and its latest instance read.
func TestWaitingPodEndsCheckpointItOutlived(t *testing.T) {
	t.Parallel()
	srv := kubefake.New(t)
	pathB, id, pos := checkpointedPods(srv)
	r := start(t, srv, Options{Container: container, MaxPods: 1, Positions: []source.Position{pos}})
	testsync.WaitFor(t, "ou-b waiting", func() bool { return r.src.PodsWaiting() == 1 })
	srv.Restart(ns, "ou-b", container)
	srv.Restart(ns, "ou-b", container)
	srv.Log(ns, "ou-b", container, t0.Add(time.Minute), "the latest's")
	srv.DeletePod(ns, "ou-a")
	testsync.WaitFor(t, "ou-b's latest line", func() bool { return len(r.c.data(pathB)) > 0 })
	testsync.WaitFor(t, "the outlived checkpoint Ended", func() bool { return r.c.ended("kube:" + pathB + "#" + id) })
}

// capQueues are the two waits at a cap: a container for a stream
// (MaxStreams: ou-a's stream ends) and a pod for room (MaxPods: ou-a
// goes). Both keep where a waiting container is to start.
var capQueues = []struct {
	name    string
	opt     Options
	waiting func(*Source) int
	free    func(*kubefake.Server)
}{
	{"stream", Options{MaxStreams: 1}, (*Source).StreamsWaiting, func(srv *kubefake.Server) { srv.Stop(ns, "ou-a", container) }},
	{"pod", Options{MaxPods: 1}, (*Source).PodsWaiting, func(srv *kubefake.Server) { srv.DeletePod(ns, "ou-a") }},
}

// A checkpointed container that must wait keeps its checkpoint: it is not
// taken for gone at start-up (which Ended it, and its next start read its
// log again from the start), and resumes from its cursor once followed.
func TestCheckpointedContainerWaitsWithItsCursor(t *testing.T) {
	t.Parallel()
	for _, q := range capQueues {
		t.Run(q.name, func(t *testing.T) {
			t.Parallel()
			srv := kubefake.New(t)
			pathB, id, pos := checkpointedPods(srv)
			srv.Log(ns, "ou-b", container, t0.Add(time.Second), "not yet read")
			opt := q.opt
			opt.Container, opt.Positions = container, []source.Position{pos}
			r := start(t, srv, opt)
			testsync.WaitFor(t, "ou-a's line", func() bool { return len(r.c.data(ns+"/ou-a/"+container)) == 1 })
			q.free(srv)
			testsync.WaitFor(t, "ou-b's line after the cursor", func() bool { return len(r.c.data(pathB)) == 1 })
			if r.c.ended("kube:" + pathB + "#" + id) {
				t.Error("the waiting checkpointed stream was Ended")
			}
			for _, b := range r.c.all() {
				if b.Path == pathB && len(b.Data) > 0 && (b.Offset != 500 || string(b.Data) != stamped(t0.Add(time.Second), "not yet read")) {
					t.Errorf("ou-b: %q at %d, want the line after the cursor at the checkpoint's offset", b.Data, b.Offset)
				}
			}
		})
	}
}

// With FromEnd, a container running at start-up that must wait starts
// where it began to wait, not at its end once followed, nor at its start
// (which replayed its log from before start-up): the lines it logged
// meanwhile are read, those from before start-up are not.
func TestFromEndWaitingStartsWhereItWaited(t *testing.T) {
	t.Parallel()
	for _, q := range capQueues {
		t.Run(q.name, func(t *testing.T) {
			t.Parallel()
			srv := kubefake.New(t)
			srv.AddPod(ns, "ou-a", labels, container)
			srv.AddPod(ns, "ou-b", labels, container)
			srv.Log(ns, "ou-b", container, t0, "before start-up")
			opt := q.opt
			opt.Container, opt.FromEnd = container, true
			r := start(t, srv, opt)
			testsync.WaitFor(t, "ou-b waiting", func() bool { return q.waiting(r.src) == 1 })
			meanwhile := time.Now().UTC().Add(time.Second) // after it began to wait, whatever the clock's grain
			srv.Log(ns, "ou-b", container, meanwhile, "while it waited")
			q.free(srv)
			pathB := ns + "/ou-b/" + container
			testsync.WaitFor(t, "ou-b's first line", func() bool { return len(r.c.data(pathB)) > 0 })
			if got, want := r.c.data(pathB), []string{stamped(meanwhile, "while it waited")}; !slices.Equal(got, want) {
				t.Errorf("ou-b: %q, want %q", got, want)
			}
		})
	}
}

// checkpointedPods adds pods ou-a and ou-b to srv, each with a line, and
// returns ou-b's log's path, its container's id and a checkpoint after
// that line (at offset 500).
func checkpointedPods(srv *kubefake.Server) (pathB, id string, pos source.Position) {
	srv.AddPod(ns, "ou-a", labels, container)
	srv.AddPod(ns, "ou-b", labels, container)
	srv.Log(ns, "ou-a", container, t0, "a line")
	srv.Log(ns, "ou-b", container, t0, "read before")
	id = srv.ContainerID(ns, "ou-b", container)
	pathB = ns + "/ou-b/" + container
	return pathB, id, source.Position{Path: pathB, ID: source.FileID{Fingerprint: id}, Offset: 500, Cursor: cursor{at: t0, n: 1}.String()}
}
