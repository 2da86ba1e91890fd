package kube

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/kubefake"
	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/source"
)

// The pods the selector picks are followed, each container instance as its
// own stream, with every line exactly as the API sent it; a pod the
// selector does not pick is not.
func TestFollowsSelectedPods(t *testing.T) {
	t.Parallel()
	srv := kubefake.New(t)
	srv.AddPod(ns, "ou-a", labels, container)
	srv.AddPod(ns, "ou-b", labels, container, "sidecar")
	srv.AddPod(ns, "other", map[string]string{"app": "db"}, container)
	a, b := lines("a", 3), lines("b", 2)
	srv.Log(ns, "ou-a", container, t0, a...)
	srv.Log(ns, "ou-b", container, t0.Add(time.Second), b...)
	srv.Log(ns, "ou-b", "sidecar", t0, "not this container")
	srv.Log(ns, "other", container, t0, "not this pod")

	r := start(t, srv, Options{Container: container})
	pathA, pathB := ns+"/ou-a/"+container, ns+"/ou-b/"+container
	testsync.WaitFor(t, "both pods' lines", func() bool { return len(r.c.data(pathA)) == 3 && len(r.c.data(pathB)) == 2 })
	testsync.WaitFor(t, "idle batches", func() bool { return r.c.idle(pathA) && r.c.idle(pathB) })
	if !r.src.Ready() {
		t.Error("not ready after the pods were listed")
	}
	if got, want := r.c.data(pathA), stampAll(t0, a); !slices.Equal(got, want) {
		t.Errorf("ou-a: got %q, want %q", got, want)
	}
	for _, b := range r.c.all() {
		if b.Path != pathA && b.Path != pathB {
			t.Errorf("a batch from %s", b.Path)
		}
		if b.Path == pathA && b.Key != "kube:"+pathA+"#"+srv.ContainerID(ns, "ou-a", container) {
			t.Errorf("key %q", b.Key)
		}
		// The kubelet's stamp says when a line was written: a watcher
		// tells a stream delivering its past from it (no size to compare).
		if want := map[string]time.Time{pathA: t0, pathB: t0.Add(time.Second)}[b.Path]; len(b.Data) > 0 && !b.Written.Equal(want) {
			t.Errorf("%s: a line written at %v, want %v", b.Path, b.Written, want)
		}
	}
	checkStreams(t, r.c.all())

	// Lines written later arrive as they are written.
	srv.Log(ns, "ou-a", container, t0.Add(2*time.Second), "[2026-11-23 10:00:02,000][main] INFO  x - later")
	testsync.WaitFor(t, "the later line", func() bool { return len(r.c.data(pathA)) == 4 })
	checkStreams(t, r.c.all())
}

// --kube-pod follows one pod by name.
func TestFollowsOnePodByName(t *testing.T) {
	t.Parallel()
	srv := kubefake.New(t)
	srv.AddPod(ns, "ou-a", labels, container)
	srv.AddPod(ns, "ou-b", labels, container)
	srv.Log(ns, "ou-a", container, t0, "a")
	srv.Log(ns, "ou-b", container, t0, "b")
	r := start(t, srv, Options{Pod: "ou-b", Container: container})
	testsync.WaitFor(t, "ou-b's line", func() bool { return len(r.c.data(ns+"/ou-b/"+container)) == 1 })
	time.Sleep(50 * time.Millisecond)
	if got := r.c.data(ns + "/ou-a/" + container); len(got) != 0 {
		t.Errorf("ou-a was followed: %q", got)
	}
}

// With FromEnd, the pods running at start-up begin at their end; a pod
// that appears later is read from its start.
func TestFromEnd(t *testing.T) {
	t.Parallel()
	srv := kubefake.New(t)
	srv.AddPod(ns, "ou-a", labels, container)
	srv.Log(ns, "ou-a", container, t0, lines("old", 5)...)
	r := start(t, srv, Options{Container: container, FromEnd: true})
	pathA := ns + "/ou-a/" + container
	testsync.WaitFor(t, "ou-a idle", func() bool { return r.c.idle(pathA) })
	srv.Log(ns, "ou-a", container, t0.Add(time.Second), "new")
	srv.AddPod(ns, "ou-b", labels, container)
	srv.Log(ns, "ou-b", container, t0, lines("b", 3)...)
	testsync.WaitFor(t, "the new lines", func() bool {
		return len(r.c.data(pathA)) >= 1 && len(r.c.data(ns+"/ou-b/"+container)) == 3
	})
	time.Sleep(50 * time.Millisecond)
	if got := r.c.data(pathA); !slices.Equal(got, []string{stamped(t0.Add(time.Second), "new")}) {
		t.Errorf("ou-a: %q, want only the line written after start-up", got)
	}
	if q := srv.LogRequests()[0]; q.Get("tailLines") != "0" || q.Get("follow") != "true" || q.Get("timestamps") != "true" {
		t.Errorf("first log request %v: want follow, timestamps and tailLines=0", q)
	}
	checkStreams(t, r.c.all())
}

// A container restart is a new stream read from its start; the old one is
// read to its end and Ended.
func TestContainerRestart(t *testing.T) {
	t.Parallel()
	srv := kubefake.New(t)
	srv.AddPod(ns, "ou-a", labels, container)
	first := srv.ContainerID(ns, "ou-a", container)
	srv.Log(ns, "ou-a", container, t0, lines("first", 3)...)
	r := start(t, srv, Options{Container: container})
	path := ns + "/ou-a/" + container
	testsync.WaitFor(t, "the first instance's lines", func() bool { return len(r.c.data(path)) == 3 })

	srv.Log(ns, "ou-a", container, t0.Add(time.Second), "last words")
	srv.Restart(ns, "ou-a", container)
	second := srv.ContainerID(ns, "ou-a", container)
	srv.Log(ns, "ou-a", container, t0.Add(2*time.Second), lines("second", 2)...)
	testsync.WaitFor(t, "the first stream's end", func() bool { return r.c.ended("kube:" + path + "#" + first) })
	testsync.WaitFor(t, "the second instance's lines", func() bool { return len(r.c.data(path)) == 6 })

	var firstData, secondData []string
	for _, b := range r.c.all() {
		switch {
		case len(b.Data) == 0:
		case b.ID.Fingerprint == first:
			firstData = append(firstData, string(b.Data))
		case b.ID.Fingerprint == second:
			secondData = append(secondData, string(b.Data))
			if b.Key != "kube:"+path+"#"+second {
				t.Errorf("second instance's key %q", b.Key)
			}
		}
	}
	if want := append(stampAll(t0, lines("first", 3)), stamped(t0.Add(time.Second), "last words")); !slices.Equal(firstData, want) {
		t.Errorf("first instance: %q, want %q", firstData, want)
	}
	if want := stampAll(t0.Add(2*time.Second), lines("second", 2)); !slices.Equal(secondData, want) {
		t.Errorf("second instance: %q, want %q", secondData, want)
	}
	for _, b := range r.c.all() {
		if b.ID.Fingerprint == second && len(b.Data) > 0 && b.Offset == 0 {
			return // the new stream's offsets start again at 0
		}
	}
	t.Error("the second instance's stream does not start at offset 0")
}

// A deleted pod's stream is Ended.
func TestPodDeleted(t *testing.T) {
	t.Parallel()
	srv := kubefake.New(t)
	srv.AddPod(ns, "ou-a", labels, container)
	id := srv.ContainerID(ns, "ou-a", container)
	srv.Log(ns, "ou-a", container, t0, "a line")
	r := start(t, srv, Options{Container: container})
	path := ns + "/ou-a/" + container
	testsync.WaitFor(t, "the line", func() bool { return len(r.c.data(path)) == 1 })
	srv.DeletePod(ns, "ou-a")
	testsync.WaitFor(t, "the stream's end", func() bool { return r.c.ended("kube:" + path + "#" + id) })
	checkStreams(t, r.c.all())
}

// A stream that breaks, abruptly in the middle of a line or cleanly as the
// API server ends long streams, reconnects from the last line's second and
// hands on every line once: lines sharing one timestamp included.
func TestStreamBreaksAndReconnects(t *testing.T) {
	t.Parallel()
	for _, abrupt := range []bool{true, false} {
		name := map[bool]string{true: "abrupt", false: "clean"}[abrupt]
		t.Run(name, func(t *testing.T) {
			srv := kubefake.New(t)
			srv.AddPod(ns, "ou-a", labels, container)
			path := ns + "/ou-a/" + container
			r := start(t, srv, Options{Container: container})
			var want []string
			write := func(at time.Time, texts ...string) {
				srv.Log(ns, "ou-a", container, at, texts...)
				want = append(want, stampAll(at, texts)...)
			}
			// One write of three lines shares a stamp, and the cut falls
			// inside the second they belong to.
			write(t0, lines("before", 3)...)
			write(t0.Add(time.Millisecond), "stack trace", "\tat x", "\tat y")
			testsync.WaitFor(t, "the lines before the cut", func() bool { return len(r.c.data(path)) == len(want) })
			before := len(srv.LogRequests())
			srv.CutLogs(abrupt)
			testsync.WaitFor(t, "the reconnection", func() bool { return len(srv.LogRequests()) > before })
			write(t0.Add(time.Millisecond), "\tat z (same write, after the cut)")
			write(t0.Add(1500*time.Millisecond), lines("after", 4)...)
			testsync.WaitFor(t, "the lines after the cut", func() bool { return len(r.c.data(path)) >= len(want) })
			time.Sleep(100 * time.Millisecond)
			if got := r.c.data(path); !slices.Equal(got, want) {
				t.Errorf("got\n%q\nwant\n%q", got, want)
			}
			reqs := srv.LogRequests()
			if len(reqs) <= before {
				t.Fatal("no reconnection")
			}
			if got := reqs[before].Get("sinceTime"); got != "2026-11-23T10:00:00Z" {
				t.Errorf("reconnected with sinceTime %q, want the last line's second", got)
			}
			checkStreams(t, r.c.all())
		})
	}
}

// A watch whose resource version expired (410 Gone as a status or as an
// ERROR event) lists the pods again, and a pod added meanwhile is followed.
func TestWatchExpiredRelists(t *testing.T) {
	t.Parallel()
	for _, asEvent := range []bool{false, true} {
		name := map[bool]string{false: "status", true: "event"}[asEvent]
		t.Run(name, func(t *testing.T) {
			srv := kubefake.New(t)
			srv.AddPod(ns, "ou-a", labels, container)
			srv.Log(ns, "ou-a", container, t0, "a")
			r := start(t, srv, Options{Container: container})
			testsync.WaitFor(t, "ou-a", func() bool { return len(r.c.data(ns+"/ou-a/"+container)) == 1 })
			srv.ExpireWatches(asEvent)
			srv.AddPod(ns, "ou-b", labels, container)
			srv.Log(ns, "ou-b", container, t0, "b")
			testsync.WaitFor(t, "ou-b after the relist", func() bool { return len(r.c.data(ns+"/ou-b/"+container)) == 1 })
			testsync.WaitFor(t, "the relist in the log", func() bool { return strings.Contains(r.log.String(), "listing the pods again") || asEvent })
			if got := r.c.data(ns + "/ou-a/" + container); len(got) != 1 {
				t.Errorf("ou-a read again after the relist: %q", got)
			}
		})
	}
}

// Bookmarks for changes the selector does not pick keep the watch's
// resource version fresh; the watch goes on.
func TestWatchBookmarks(t *testing.T) {
	t.Parallel()
	srv := kubefake.New(t)
	r := start(t, srv, Options{Container: container})
	testsync.WaitFor(t, "ready", r.src.Ready)
	for i := range 3 {
		srv.AddPod(ns, "db-"+string(rune('a'+i)), map[string]string{"app": "db"}, "db")
	}
	srv.AddPod(ns, "ou-a", labels, container)
	srv.Log(ns, "ou-a", container, t0, "a")
	testsync.WaitFor(t, "ou-a", func() bool { return len(r.c.data(ns+"/ou-a/"+container)) == 1 })
	if strings.Contains(r.log.String(), "watch failed") {
		t.Errorf("the watch failed:\n%s", r.log.String())
	}
}

// A stream resumes from a checkpointed cursor: lines before it are not
// handed on again, including the ones sharing its timestamp, and offsets go
// on from the checkpoint's.
func TestResumesFromCursor(t *testing.T) {
	t.Parallel()
	srv := kubefake.New(t)
	srv.AddPod(ns, "ou-a", labels, container)
	id := srv.ContainerID(ns, "ou-a", container)
	same := lines("same", 4) // one write: one stamp
	srv.Log(ns, "ou-a", container, t0.Add(-time.Second), "earlier")
	srv.Log(ns, "ou-a", container, t0, same...)
	srv.Log(ns, "ou-a", container, t0.Add(time.Second), "later")
	path := ns + "/ou-a/" + container
	// Resume at the third line stamped t0, at virtual offset 1000.
	pos := source.Position{Path: path, ID: source.FileID{Fingerprint: id}, Offset: 1000, Cursor: cursor{at: t0, n: 2}.String()}
	r := start(t, srv, Options{Container: container, FromEnd: true, Positions: []source.Position{pos}})
	want := []string{stamped(t0, same[2]), stamped(t0, same[3]), stamped(t0.Add(time.Second), "later")}
	testsync.WaitFor(t, "the lines after the cursor", func() bool { return len(r.c.data(path)) >= len(want) })
	time.Sleep(50 * time.Millisecond)
	if got := r.c.data(path); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	first := r.c.all()[0]
	if first.Offset != 1000 || first.Cursor != pos.Cursor {
		t.Errorf("first batch at %d %q, want the checkpoint's 1000 %q", first.Offset, first.Cursor, pos.Cursor)
	}
	if q := srv.LogRequests()[0]; q.Get("sinceTime") != "2026-11-23T10:00:00Z" || q.Has("tailLines") {
		t.Errorf("log request %v: want sinceTime at the cursor's second and no tailLines despite FromEnd", q)
	}
	checkStreams(t, r.c.all())
}

// A checkpointed container instance that no pod has any more is Ended at
// once, so the pipeline can forget it.
func TestForgetsGoneCheckpointedStreams(t *testing.T) {
	t.Parallel()
	srv := kubefake.New(t)
	srv.AddPod(ns, "ou-a", labels, container)
	gone := source.Position{Path: ns + "/ou-old/" + container, ID: source.FileID{Fingerprint: "containerd://gone"}, Offset: 77, Cursor: cursor{at: t0, n: 1}.String()}
	file := source.Position{Path: "/var/log/x.log", ID: source.FileID{Dev: 1, Ino: 2}}
	r := start(t, srv, Options{Container: container, Positions: []source.Position{gone, file}})
	testsync.WaitFor(t, "the gone stream's end", func() bool { return r.c.ended("kube:" + gone.Path + "#containerd://gone") })
	for _, b := range r.c.all() {
		if b.Path == file.Path {
			t.Error("a file's position was taken for a container's")
		}
		if b.Ended && (b.Offset != 77 || b.Cursor != gone.Cursor) {
			t.Errorf("Ended at %d %q, want the checkpoint's", b.Offset, b.Cursor)
		}
	}
}

// A checkpointed instance whose log the kubelet removed is given up after
// a few tries, and Ended; the container's next instance is read all the
// same.
func TestGivesUpALostLog(t *testing.T) {
	t.Parallel()
	srv := kubefake.New(t)
	srv.AddPod(ns, "ou-a", labels, container)
	old := srv.ContainerID(ns, "ou-a", container)
	srv.Restart(ns, "ou-a", container)
	srv.LoseLog(ns, "ou-a", container)
	srv.Log(ns, "ou-a", container, t0, "the new instance")
	path := ns + "/ou-a/" + container
	pos := source.Position{Path: path, ID: source.FileID{Fingerprint: old}, Offset: 10, Cursor: cursor{at: t0, n: 1}.String()}
	r := start(t, srv, Options{Container: container, Positions: []source.Position{pos}})
	testsync.WaitFor(t, "the lost log's end", func() bool { return r.c.ended("kube:" + path + "#" + old) })
	testsync.WaitFor(t, "the new instance's line", func() bool { return len(r.c.data(path)) == 1 })
	previous := 0
	for _, q := range srv.LogRequests() {
		if q.Get("previous") == "true" {
			previous++
		}
	}
	if previous != maxStoppedTries {
		t.Errorf("%d tries for the lost log, want %d", previous, maxStoppedTries)
	}
}

// Without the right credentials nothing is read, the source is not ready,
// the failure is logged with what RBAC it needs, and the token is never.
func TestUnauthorized(t *testing.T) {
	t.Parallel()
	srv := kubefake.New(t)
	srv.AddPod(ns, "ou-a", labels, container)
	cfg := srv.ClientConfig() // with kubefake's usual token, now refused
	srv.SetToken("the-real-token")
	r := start(t, srv, Options{Container: container, Config: cfg})
	testsync.WaitFor(t, "the failure in the log", func() bool { return strings.Contains(r.log.String(), "cannot list pods") })
	if r.src.Ready() {
		t.Error("ready without a pod list")
	}
	logText := r.log.String()
	if !strings.Contains(logText, "401") || !strings.Contains(logText, "get, list and watch on pods") {
		t.Errorf("log lacks the status or the RBAC it needs:\n%s", logText)
	}
	if strings.Contains(logText, "kubefake-token") || strings.Contains(logText, "the-real-token") {
		t.Errorf("a token in the log:\n%s", logText)
	}
}

// A followed pod's IP is known by its source name once its status has one,
// and follows the status; a pod the selector does not pick is unknown.
func TestPodAddrs(t *testing.T) {
	t.Parallel()
	srv := kubefake.New(t)
	srv.AddPod(ns, "ingress-a", labels, "controller")
	srv.AddPod(ns, "ingress-b", labels, "controller")
	srv.AddPod(ns, "other", map[string]string{"app": "db"}, "controller")
	srv.SetPodIP(ns, "ingress-a", "10.1.67.12")
	srv.SetPodIP(ns, "other", "10.1.67.99")
	r := start(t, srv, Options{})
	testsync.WaitFor(t, "the pods listed", r.src.Ready)
	pathA, pathB := ns+"/ingress-a/controller", ns+"/ingress-b/controller"
	if a, ok := r.src.Addr(pathA); !ok || a != netip.MustParseAddr("10.1.67.12") {
		t.Errorf("Addr(%s) = %v %v", pathA, a, ok)
	}
	for _, src := range []string{pathB, ns + "/other/controller", "elsewhere/ingress-a/controller", "nonsense"} {
		if a, ok := r.src.Addr(src); ok {
			t.Errorf("Addr(%s) = %v, want unknown", src, a)
		}
	}
	srv.SetPodIP(ns, "ingress-b", "10.1.67.13")
	testsync.WaitFor(t, "ingress-b's IP", func() bool { _, ok := r.src.Addr(pathB); return ok })
	want := map[string]netip.Addr{pathA: netip.MustParseAddr("10.1.67.12"), pathB: netip.MustParseAddr("10.1.67.13")}
	if got := r.src.Addrs(); !maps.Equal(got, want) {
		t.Errorf("Addrs() = %v, want %v", got, want)
	}
	srv.DeletePod(ns, "ingress-a")
	testsync.WaitFor(t, "ingress-a gone", func() bool { _, ok := r.src.Addr(pathA); return !ok })
}

// Lines Keep refuses are handed on blank after their timestamp, the same
// length, so offsets and cursors go on as the log does.
func TestKeepBlanksRefusedLines(t *testing.T) {
	t.Parallel()
	srv := kubefake.New(t)
	srv.AddPod(ns, "ingress-a", labels, "controller")
	srv.Log(ns, "ingress-a", "controller", t0, "to 10.1.67.56:8443", "to 10.1.67.57:8443", "again 10.1.67.56:8443")
	r := start(t, srv, Options{Keep: func(l []byte) bool { return strings.Contains(string(l), "10.1.67.56:") }})
	path := ns + "/ingress-a/controller"
	testsync.WaitFor(t, "three lines", func() bool { return len(r.c.data(path)) == 3 })
	got := r.c.data(path)
	want := stampAll(t0, []string{"to 10.1.67.56:8443", strings.Repeat(" ", len("to 10.1.67.57:8443")), "again 10.1.67.56:8443"})
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	checkStreams(t, r.c.all())
}

// A log stream the server ended is not at its end: after the Idle batch
// that hands on its last record, the stream says it is away (Batch.Away)
// until it reconnects, and goes idle again once quiet after that. A
// reader merging pods by time then holds another pod's replay for the
// lines this one brings back (helper-77's missed replay).
func TestStreamAwayWhileReconnecting(t *testing.T) {
	t.Parallel()
	srv := kubefake.New(t)
	srv.AddPod(ns, "ou-a", labels, container)
	path := ns + "/ou-a/" + container
	// Written before the stream starts: logged after, it could come after
	// an Idle batch of the still empty log (seen under load).
	srv.Log(ns, "ou-a", container, t0, "before")
	r := start(t, srv, Options{Container: container, Reconnect: 300 * time.Millisecond})
	testsync.WaitFor(t, "the line and the quiet after it", func() bool { return len(r.c.kinds(path)) >= 2 })
	srv.CutLogs(false)
	// The reconnected stream goes idle once Idle passes with nothing new,
	// and the line after the cut is logged only then: logged as soon as
	// the reconnection is asked for, it came before that Idle or after it
	// depending on the machine's load.
	reconnected := []string{"data", "idle", "away", "idle"}
	testsync.WaitFor(t, "the reconnection and the quiet after it", func() bool {
		return len(r.c.kinds(path)) >= len(reconnected)
	})
	srv.Log(ns, "ou-a", container, t0.Add(time.Second), "after")
	testsync.WaitFor(t, "the line after the cut", func() bool { return len(r.c.data(path)) == 2 })
	kinds := r.c.kinds(path)
	if want := append(reconnected, "data"); !slices.Equal(kinds[:min(len(kinds), len(want))], want) {
		t.Errorf("batches %v: want %v, the stream away between its cut and its reconnection", kinds, want)
	}
}

// A role without get on pods/log lists the pods but reads none of their
// logs: the source says so (NotReady, which /readyz reports) and logs what
// the role needs, until the API server serves the logs again (helper-77:
// /readyz answered 200 while the detector read nothing).
func TestRefusedLogsAreNotReady(t *testing.T) {
	t.Parallel()
	srv := kubefake.New(t)
	srv.AddPod(ns, "ou-a", labels, container)
	srv.DenyLogs(true)
	r := start(t, srv, Options{Container: container})
	testsync.WaitFor(t, "the refusal said", func() bool { return strings.Contains(r.src.NotReady(), "refuses a container's log") })
	if why := r.src.NotReady(); !strings.Contains(why, "get on pods/log in namespace "+ns) {
		t.Errorf("NotReady() = %q: want what the role needs", why)
	}
	// The state is set before the warning is logged: a look right after
	// the first found the log without it (CI, under -race).
	testsync.WaitFor(t, "the log saying what the role needs", func() bool { return strings.Contains(r.log.String(), "needs=") })
	srv.DenyLogs(false)
	srv.Log(ns, "ou-a", container, t0, "served again")
	path := ns + "/ou-a/" + container
	testsync.WaitFor(t, "the log read", func() bool { return len(r.c.data(path)) == 1 })
	testsync.WaitFor(t, "ready again", func() bool { return r.src.NotReady() == "" })
}

// A stream started for a pod a watch brought goes on after that watch
// ends: it is the Source's, not the one watch request's (it was cancelled
// with the watch, every WatchTimeout at most, and never started again).
func TestStreamOutlivesItsWatch(t *testing.T) {
	t.Parallel()
	srv := kubefake.New(t)
	r := start(t, srv, Options{Container: container})
	testsync.WaitFor(t, "ready", r.src.Ready)
	srv.AddPod(ns, "ou-a", labels, container)
	srv.Log(ns, "ou-a", container, t0, "a")
	path := ns + "/ou-a/" + container
	testsync.WaitFor(t, "ou-a's first line", func() bool { return len(r.c.data(path)) == 1 })
	srv.ExpireWatches(false)
	testsync.WaitFor(t, "the relist", func() bool { return strings.Contains(r.log.String(), "listing the pods again") })
	srv.Log(ns, "ou-a", container, t0.Add(time.Second), "b")
	testsync.WaitFor(t, "ou-a's line after its watch ended", func() bool { return len(r.c.data(path)) == 2 })
}
