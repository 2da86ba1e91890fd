package source

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kubeletNode lays out a node's container logs as the kubelet does: each
// container instance logs to /var/log/pods/<ns>_<pod>_<uid>/<ctr>/<n>.log
// (n counts the container's restarts), and /var/log/containers holds a
// symbolic link to it named <pod>_<ns>_<ctr>-<container id>.log, a new
// name for each instance. The kubelet rotates a log by renaming it to
// <n>.log.<timestamp> and asking the runtime to reopen it (the runtime
// writes to the renamed file until then), and at its next rotation
// compresses the older ones (<n>.log.<timestamp>.tmp, renamed to .gz,
// the uncompressed file deleted).
type kubeletNode struct {
	t          *testing.T
	containers string // /var/log/containers
	ctrDir     string // /var/log/pods/<ns>_<pod>_<uid>/<ctr>
	stamp      int
}

func newKubeletNode(t *testing.T) *kubeletNode {
	root := t.TempDir()
	k := &kubeletNode{t: t, containers: filepath.Join(root, "containers"), ctrDir: filepath.Join(root, "pods", "openunison_openunison-orchestra-7d9f_uid-1", "openunison-orchestra")}
	for _, d := range []string{k.containers, k.ctrDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// start starts the container's nth instance: its log, and its link.
func (k *kubeletNode) start(n int, prefix string) *writer {
	log := filepath.Join(k.ctrDir, fmt.Sprintf("%d.log", n))
	w := newWriter(k.t, log, prefix)
	link := filepath.Join(k.containers, fmt.Sprintf("openunison-orchestra-7d9f_openunison_openunison-orchestra-%064d.log", n))
	if err := os.Symlink(log, link); err != nil {
		k.t.Fatal(err)
	}
	return w
}

// removeLink is the kubelet removing a dead container instance's link.
func (k *kubeletNode) removeLink(n int) {
	link := filepath.Join(k.containers, fmt.Sprintf("openunison-orchestra-7d9f_openunison_openunison-orchestra-%064d.log", n))
	if err := os.Remove(link); err != nil {
		k.t.Fatal(err)
	}
}

// rotate rotates w's log as the kubelet does: the older rotated files are
// compressed, the log renamed, a few lines still written to it, and the
// runtime reopens the log.
func (k *kubeletNode) rotate(w *writer) (rotated string) {
	k.compressRotated(w.path)
	k.stamp++
	rotated = fmt.Sprintf("%s.20261204-1200%02d", w.path, k.stamp)
	if err := os.Rename(w.path, rotated); err != nil {
		k.t.Fatal(err)
	}
	w.write(3) // the runtime has not reopened yet
	w.mu.Lock()
	w.reopen()
	w.mu.Unlock()
	return rotated
}

// compressRotated compresses every rotated file of log not compressed yet,
// as the kubelet's compressLog does.
func (k *kubeletNode) compressRotated(log string) {
	k.t.Helper()
	rotated, _ := filepath.Glob(log + ".*")
	for _, r := range rotated {
		if strings.HasSuffix(r, ".gz") {
			continue
		}
		tmp := k.compressing(r)
		if err := os.Rename(tmp, r+".gz"); err != nil {
			k.t.Fatal(err)
		}
		if err := os.Remove(r); err != nil {
			k.t.Fatal(err)
		}
	}
}

// compressing writes r compressed to r.tmp, as the kubelet does before
// it renames that to r.gz, and returns r.tmp.
func (k *kubeletNode) compressing(r string) string {
	k.t.Helper()
	in, err := os.Open(r)
	if err != nil {
		k.t.Fatal(err)
	}
	defer in.Close()
	tmp := r + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		k.t.Fatal(err)
	}
	z := gzip.NewWriter(out)
	if _, err := io.Copy(z, in); err != nil {
		k.t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		k.t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		k.t.Fatal(err)
	}
	return tmp
}

// kubeletPatterns are the ways an operator names the container's logs:
// the links in /var/log/containers (a central reader on the node), and
// the pod's own directory (the hostPath sidecar's mount).
var kubeletPatterns = []struct {
	name    string
	pattern func(k *kubeletNode) string
}{
	{"containers glob", func(k *kubeletNode) string { return filepath.Join(k.containers, "openunison-orchestra-*.log") }},
	{"pod directory glob", func(k *kubeletNode) string { return filepath.Join(k.ctrDir, "*.log") }},
}

// A running watch over the kubelet's layout reads every line once, in
// order per container instance: across the kubelet's rotations (with the
// runtime still writing to the renamed log until it reopens, and the
// older generations compressed), and a container restart (a new log and
// a new link; the old link removed later).
func TestFollowKubeletLayout(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		for _, p := range kubeletPatterns {
			t.Run(m.name+"/"+p.name, func(t *testing.T) {
				t.Parallel()
				k := newKubeletNode(t)
				pattern := p.pattern(k)
				w0 := k.start(0, "a")
				w0.write(10)
				c, _, _ := follow(t, Options{Patterns: []string{pattern}, PollOnly: m.pollOnly, Safety: 50 * time.Millisecond, SafetyMax: 100 * time.Millisecond})
				c.waitLines(t, 10)
				for r := range 3 {
					w0.write(5)
					k.rotate(w0)
					w0.write(5)
					c.waitLines(t, 10+13*(r+1))
				}
				// The container restarts: its last lines, then the new
				// instance's log and link.
				w0.write(4)
				w0.close()
				w1 := k.start(1, "b")
				w1.write(10)
				c.waitLines(t, 10+13*3+4+10)
				k.removeLink(0)
				k.rotate(w1)
				w1.write(5)
				w1.close()
				c.waitLines(t, 10+13*3+4+10+3+5)
				time.Sleep(2 * (300*time.Millisecond + 50*time.Millisecond)) // any duplicate
				c.checkEachOnceInOrder(t, map[string]int{"a": w0.next, "b": w1.next})
			})
		}
	}
}

// A watch restarted from its checkpoint over the kubelet's layout reads
// every line written while it was down once, in order per container
// instance: the rest of a log the kubelet rotated meanwhile (now
// <n>.log.<timestamp>, beside the log, not the link), and the log of an
// instance started meanwhile.
func TestFollowKubeletLayoutWhileDown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// down runs while the follower is stopped, after a's first 10
		// lines; it returns how many lines each prefix has in all.
		down func(k *kubeletNode, w0 *writer) map[string]int
	}{
		{"rotated", func(k *kubeletNode, w0 *writer) map[string]int {
			w0.write(5)
			k.rotate(w0)
			w0.write(5)
			return map[string]int{"a": w0.next}
		}},
		{"rotated, and being compressed at the restart", func(k *kubeletNode, w0 *writer) map[string]int {
			// The kubelet's next rotation compresses the rotated log
			// to <n>.log.<timestamp>.tmp first: a gzip stream, no
			// generation, whose lines are the rotated log's.
			w0.write(5)
			rotated := k.rotate(w0)
			w0.write(5)
			k.compressing(rotated)
			return map[string]int{"a": w0.next}
		}},
		{"container restarted", func(k *kubeletNode, w0 *writer) map[string]int {
			w0.write(5)
			w0.close()
			w1 := k.start(1, "b")
			w1.write(10)
			return map[string]int{"a": w0.next, "b": w1.next}
		}},
		{"rotated, then container restarted", func(k *kubeletNode, w0 *writer) map[string]int {
			w0.write(5)
			k.rotate(w0)
			w0.write(5)
			w0.close()
			w1 := k.start(1, "b")
			w1.write(10)
			return map[string]int{"a": w0.next, "b": w1.next}
		}},
	}
	for _, tt := range tests {
		for _, p := range kubeletPatterns {
			t.Run(tt.name+"/"+p.name, func(t *testing.T) {
				t.Parallel()
				k := newKubeletNode(t)
				w0 := k.start(0, "a")
				w0.write(10)
				opt := Options{Patterns: []string{p.pattern(k)}}
				saved := stopAndSave(t, opt, 10)
				want := tt.down(k, w0)
				w0.close()
				opt.Positions = saved
				c, _, _ := follow(t, opt)
				c.waitLines(t, want["a"]+want["b"]-10)
				// Any duplicate, or a partial line a drained stream
				// ends with.
				time.Sleep(2 * (300*time.Millisecond + 50*time.Millisecond))
				c.checkEachOnceInOrderFrom(t, map[string][2]int{"a": {10, want["a"]}, "b": {0, want["b"]}})
			})
		}
	}
}

// A log followed through a symbolic link and rotated by logrotate beside
// the file the link names (its generations are there, not beside the
// link) loses no line when the follower looks only after two rotations.
func TestFollowLinkedLogLagsTwoRotations(t *testing.T) {
	t.Parallel()
	for _, rot := range []struct {
		name   string
		rotate func(t *testing.T, path string)
	}{{"rename", rename}, {"copytruncate", copytruncate}} {
		for _, m := range modes {
			t.Run(rot.name+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				root := t.TempDir()
				real, links := filepath.Join(root, "real"), filepath.Join(root, "links")
				for _, d := range []string{real, links} {
					if err := os.Mkdir(d, 0o755); err != nil {
						t.Fatal(err)
					}
				}
				path := filepath.Join(real, "app.log")
				w := newWriter(t, path, "l")
				w.write(10)
				if err := os.Symlink(path, filepath.Join(links, "app.log")); err != nil {
					t.Fatal(err)
				}
				c, _, _ := follow(t, Options{Patterns: []string{filepath.Join(links, "*.log")}, Poll: 400 * time.Millisecond, PollOnly: m.pollOnly})
				c.waitLines(t, 10)
				c.waitIdle(t)
				for range 2 {
					w.write(5)
					w.close()
					rot.rotate(t, path)
					next := w.next
					w = newWriter(t, path, "l")
					w.next = next
				}
				w.write(5)
				w.close()
				c.waitLines(t, 25)
				time.Sleep(50 * time.Millisecond) // any duplicate
				c.checkInOrder(t, "l", 0, 25)
			})
		}
	}
}

// linkedName names the file a rotation renames: the one a link names,
// through relative links and chains, also while the link names nothing
// (the file renamed, the runtime not reopened yet).
func TestLinkedName(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	pod := filepath.Join(root, "pods", "ns_p_uid", "c")
	if err := os.MkdirAll(pod, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(pod, "0.log")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"abs.log":      file,
		"rel.log":      filepath.Join("pods", "ns_p_uid", "c", "0.log"),
		"chain.log":    filepath.Join(root, "abs.log"),
		"dangling.log": filepath.Join(pod, "1.log"),
	}
	for name, to := range links {
		if err := os.Symlink(to, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct{ path, want string }{
		{filepath.Join(root, "abs.log"), file},
		{filepath.Join(root, "rel.log"), file},
		{filepath.Join(root, "chain.log"), file},
		{filepath.Join(root, "dangling.log"), filepath.Join(pod, "1.log")},
		{file, file},
		{filepath.Join(root, "none.log"), filepath.Join(root, "none.log")},
	} {
		if got := linkedName(tt.path); got != tt.want {
			t.Errorf("linkedName(%s) = %s, want %s", tt.path, got, tt.want)
		}
	}
}

// A watch restarted from its checkpoint with FromEnd over the kubelet's
// layout reads the log of a container instance started while it was down
// (a new log, under a new link name the checkpoint cannot name) from its
// start when the log was made after the checkpoint was written, with the
// generations the kubelet rotated it to: its lines are no history. One
// made before (or when that time is unknown) is skipped to its end, as
// FromEnd does. The instance the checkpoint names is read on from its
// position either way.
func TestFollowFromEndReadsLogsMadeSinceTheCheckpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// written is when the checkpoint was written, from when the new
		// instance's log was made (zero: unknown).
		written func(born time.Time) time.Time
		rotate  bool // the new instance's log is rotated while down
		// fromStart: its lines written while down are read.
		fromStart bool
	}{
		{"made after the checkpoint", func(born time.Time) time.Time { return born.Add(-time.Millisecond) }, false, true},
		{"made after the checkpoint, and rotated", func(born time.Time) time.Time { return born.Add(-time.Millisecond) }, true, true},
		{"made before the checkpoint", func(born time.Time) time.Time { return born.Add(bornSlack + time.Millisecond) }, false, false},
		{"checkpoint time unknown", func(time.Time) time.Time { return time.Time{} }, true, false},
	}
	for _, tt := range tests {
		for _, p := range kubeletPatterns {
			t.Run(tt.name+"/"+p.name, func(t *testing.T) {
				t.Parallel()
				k := newKubeletNode(t)
				w0 := k.start(0, "a")
				w0.write(10)
				opt := Options{Patterns: []string{p.pattern(k)}}
				saved := stopAndSave(t, opt, 10)
				w0.write(5)
				w0.close()
				w1 := k.start(1, "b")
				born, ok := bornAt(w1.path)
				if !ok {
					t.Skip("no birth times on this filesystem")
				}
				w1.write(10)
				if tt.rotate {
					k.rotate(w1) // b 10-12 to the rotated log
					w1.write(5)
				}
				down := w1.next
				opt.FromEnd, opt.Positions, opt.PositionsWritten = true, saved, tt.written(born)
				c, _, _ := follow(t, opt)
				c.waitLine(t, "a 000014")
				c.waitIdle(t)
				w1.write(5) // written while followed: read whatever the start
				w1.close()
				c.waitLine(t, fmt.Sprintf("b %06d", w1.next-1))
				from := down
				if tt.fromStart {
					from = 0
				}
				c.checkEachOnceInOrderFrom(t, map[string][2]int{"a": {10, 15}, "b": {from, w1.next}})
			})
		}
	}
}
