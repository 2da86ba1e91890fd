package source

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// scriptNotifier hands the follower the changes a test scripts; its
// directories are on a filesystem that is local or not.
type scriptNotifier struct {
	deafNotifier
	next  map[int]bool
	local bool
}

func (n *scriptNotifier) watchDir(string) (int, error) { return 2, nil }
func (n *scriptNotifier) eventsArrive(string) bool     { return n.local }

func (n *scriptNotifier) take() (map[int]bool, bool) {
	c := n.next
	n.next = nil
	return c, false
}

// The safety look backs off from Safety to SafetyMax once events have been
// seen where every file is, and comes back to Safety at once when a look
// finds bytes no event announced or a file appears where none were seen;
// where events were never seen, or a pattern's directory is a glob, it
// stays at Safety; on a local filesystem it need not see an event first.
func TestFollowSafetyLookBacksOff(t *testing.T) {
	t.Parallel()
	const s = time.Second
	tests := []struct {
		name    string
		pattern string
		proven  bool // an event came for the file before the first look
		local   bool // the directory is on a local filesystem
		// elsewhere: the file is not (a symbolic link to NFS).
		elsewhere bool
		// linked: the file is a symbolic link to a file in another
		// directory, as Kubernetes' /var/log/containers/*.log are.
		linked bool
		// after, when set, happens after the fifth look (looked's clock is
		// the real one: the next look is then a Safety from now).
		after func(f *Follower, tl *tailer, now time.Time)
		want  []time.Duration // the waits between looks
	}{
		{"events seen", "app.log", true, false, false, false, nil, []time.Duration{2 * s, 4 * s, 8 * s, 10 * s, 10 * s, 10 * s, 10 * s}},
		{"no event ever seen", "app.log", false, false, false, false, nil, []time.Duration{s, s, s, s, s, s, s}},
		{"no event seen, a local filesystem", "app.log", false, true, false, false, nil, []time.Duration{2 * s, 4 * s, 8 * s, 10 * s, 10 * s, 10 * s, 10 * s}},
		{"no event seen, a local directory, the file elsewhere", "app.log", false, true, true, false, nil, []time.Duration{s, s, s, s, s, s, s}},
		{"an event seen, a local directory, the file elsewhere", "app.log", true, true, true, false, nil, []time.Duration{2 * s, 4 * s, 8 * s, 10 * s, 10 * s, 10 * s, 10 * s}},
		{"an event for a file linked from a directory elsewhere: that directory not proven", "app.log", true, false, false, true, nil, []time.Duration{s, s, s, s, s, s, s}},
		{"a glob in the directory, a local filesystem", "*/app.log", false, true, false, false, nil, []time.Duration{s, s, s, s, s, s, s}},
		{"a glob in the directory", "*/app.log", true, false, false, false, nil, []time.Duration{s, s, s, s, s, s, s}},
		{"a look reads bytes no event announced", "app.log", true, false, false, false, func(f *Follower, tl *tailer, now time.Time) {
			tl.unannounced = true
			f.looked(tl, true)
		}, []time.Duration{2 * s, 4 * s, 8 * s, 10 * s, 10 * s, s, s}}, // judged: polled
		{"a file where no event was seen", "*.log", true, false, false, false, func(f *Follower, _ *tailer, now time.Time) {
			nt := &tailer{path: filepath.Join(filepath.Dir(f.opt.Patterns[0]), "..", "other", "b.log"), wakeState: wakeState{wd: 3}}
			f.tailers = append(f.tailers, nt)
			f.safetyBack(now)
		}, []time.Duration{2 * s, 4 * s, 8 * s, 10 * s, 10 * s, s, s}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			f := New(Options{Patterns: []string{filepath.Join(dir, tt.pattern)}, Safety: s, SafetyMax: 10 * s}, nil)
			n := &scriptNotifier{local: tt.local}
			f.events = n
			if _, err := f.watchDir(dir); err != nil {
				t.Fatal(err)
			}
			tl := &tailer{path: filepath.Join(dir, "app.log"), wakeState: wakeState{wd: 1, localFile: tt.local && !tt.elsewhere, linked: tt.linked}}
			f.tailers = []*tailer{tl}
			now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
			f.safetyEvery, f.nextSafety = s, now.Add(s)
			if tt.proven {
				n.next = map[int]bool{1: true}
				f.markDue(now)
			}
			var got []time.Duration
			for i := range len(tt.want) {
				at := f.nextSafety
				f.markDue(at)
				got = append(got, f.nextSafety.Sub(at))
				if i == 4 && tt.after != nil {
					tt.after(f, tl, at)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("waits %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("waits %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// pathNotifier is a scriptNotifier whose files may be on another
// filesystem than their directory: elsewhere names the paths (a symbolic
// link in a local directory to a file on NFS) whose events cannot be
// trusted.
type pathNotifier struct {
	scriptNotifier
	elsewhere map[string]bool
}

func (n *pathNotifier) watchFile(*os.File, string) (int, error) { return 1, nil }
func (n *pathNotifier) eventsArrive(path string) bool           { return n.local && !n.elsewhere[path] }

// watch asks about the file's own filesystem, not only its directory's:
// a file elsewhere keeps the safety look at Safety, and watching one
// brings a look that had backed off back to Safety.
func TestWatchAsksAboutTheFilesOwnFilesystem(t *testing.T) {
	t.Parallel()
	const s = time.Second
	dir := t.TempDir()
	local, far := filepath.Join(dir, "app.log"), filepath.Join(dir, "nfs.log")
	n := &pathNotifier{scriptNotifier: scriptNotifier{local: true}, elsewhere: map[string]bool{far: true}}
	f := New(Options{Patterns: []string{filepath.Join(dir, "*.log")}, Safety: s, SafetyMax: 10 * s}, nil)
	f.events = n
	now := time.Now()
	f.safetyEvery, f.nextSafety = s, now.Add(s)
	watchOne := func(path string) {
		tl := &tailer{path: path}
		f.watch(tl)
		f.tailers = append(f.tailers, tl)
	}
	waits := func(looks int) []time.Duration {
		var got []time.Duration
		for range looks {
			at := f.nextSafety
			f.markDue(at)
			got = append(got, f.nextSafety.Sub(at))
		}
		return got
	}
	watchOne(local)
	if got := waits(4); got[3] != 10*s {
		t.Fatalf("a local file in a local directory: waits %v, want a back-off to 10s", got)
	}
	watchOne(far)
	if f.safetyEvery != s || f.nextSafety.After(time.Now().Add(s)) {
		t.Errorf("watching a file elsewhere left the look at every %v, next at %v", f.safetyEvery, f.nextSafety)
	}
	if got := waits(4); got[3] != s {
		t.Errorf("a file elsewhere, no event of its own: waits %v, want Safety throughout", got)
	}
}

// dirNotifier gives each directory a watch of its own and notes which are
// removed.
type dirNotifier struct {
	pathNotifier
	wds     map[string]int
	removed map[int]bool
}

func (n *dirNotifier) watchDir(dir string) (int, error) {
	// As inotify does: one watch a directory, whatever name reaches it.
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return -1, err
	}
	if wd, ok := n.wds[real]; ok {
		return wd, nil
	}
	n.wds[real] = 100 + len(n.wds)
	return n.wds[real], nil
}

func (n *dirNotifier) unwatch(wd int) { n.removed[wd] = true }

func newDirNotifier() *dirNotifier {
	return &dirNotifier{pathNotifier: pathNotifier{scriptNotifier: scriptNotifier{local: true}}, wds: map[string]int{}, removed: map[int]bool{}}
}

// linkedLog makes pod/0.log and a symbolic link to it in links, as the
// kubelet does in /var/log/containers, and returns the link.
func linkedLog(t *testing.T, links, pod string) string {
	t.Helper()
	for _, d := range []string{links, pod} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(pod, "0.log"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(links, filepath.Base(pod)+".log")
	if err := os.Symlink(filepath.Join(pod, "0.log"), link); err != nil {
		t.Fatal(err)
	}
	return link
}

// A symbolic link's target directory is watched while a tailer needs it
// and no longer: a central watcher sees pods' directories come and go.
func TestWatchTargetDirectoryWhileNeeded(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	links, pod := filepath.Join(root, "containers"), filepath.Join(root, "pods", "p")
	link := linkedLog(t, links, pod)
	n := newDirNotifier()
	f := New(Options{Patterns: []string{filepath.Join(links, "*.log")}, Safety: time.Second, SafetyMax: 10 * time.Second}, nil)
	f.events = n
	old, cur := &tailer{path: link}, &tailer{path: link} // before and after a rotation
	f.watch(old)
	f.watch(cur)
	f.tailers = []*tailer{old, cur}
	realPod, err := filepath.EvalSymlinks(pod)
	if err != nil {
		t.Fatal(err)
	}
	wd, watched := f.dirWatch[realPod]
	if !watched || old.targetDir != realPod || !f.dirChanged(map[int]bool{wd: true}, cur.targetDir) {
		t.Fatalf("the link's target directory %s is not watched for it: %v", realPod, f.dirWatch)
	}
	if !old.linked || !cur.linked {
		t.Error("a link into another directory is not marked linked: its events would prove the link's directory")
	}
	f.unwatch(old)
	if n.removed[wd] {
		t.Fatal("the target directory's watch went while a tailer still needs it")
	}
	f.unwatch(cur)
	if _, still := f.dirWatch[realPod]; still || !n.removed[wd] || len(f.targetRefs) != 0 {
		t.Errorf("the target directory's watch stayed after its last tailer: removed %v, %v", n.removed, f.dirWatch)
	}
	if _, still := f.dirWatch[links]; !still {
		t.Errorf("the pattern's directory is no longer watched: %v", f.dirWatch)
	}
}

// aliasedTarget follows root/containers/*.log, whose p.log links to
// root/real/pods/p/0.log, and root/alias/pods/p/*.txt, root/alias a link
// to root/real: one directory by two names, one watch (wd).
func aliasedTarget(t *testing.T, n notifier) (f *Follower, tl *tailer, wd int, aliasDir, root string) {
	t.Helper()
	root = t.TempDir()
	links, alias := filepath.Join(root, "containers"), filepath.Join(root, "alias")
	link := linkedLog(t, links, filepath.Join(root, "real", "pods", "p"))
	if err := os.Symlink(filepath.Join(root, "real"), alias); err != nil {
		t.Fatal(err)
	}
	aliasDir = filepath.Join(alias, "pods", "p")
	f = New(Options{Patterns: []string{filepath.Join(links, "*.log"), filepath.Join(aliasDir, "*.txt")}, Safety: time.Second, SafetyMax: 10 * time.Second}, nil)
	f.events = n
	f.watchPatternDirs()
	tl = &tailer{path: link}
	f.watch(tl)
	f.tailers = []*tailer{tl}
	wd = f.dirWatch[aliasDir]
	if tl.targetDir == "" || f.dirWatch[tl.targetDir] != wd {
		t.Fatalf("the link's directory and the pattern's are not one watch: %v", f.dirWatch)
	}
	return f, tl, wd, aliasDir, root
}

// A link's target directory that a pattern names through another path (a
// symbolic link to it) shares its inotify watch with the pattern's: the
// last link's tailer going must not remove it.
func TestWatchTargetKeepsAPatternsWatchOfTheSameDirectory(t *testing.T) {
	t.Parallel()
	n := newDirNotifier()
	f, tl, wd, aliasDir, _ := aliasedTarget(t, n)
	f.unwatch(tl)
	if n.removed[wd] || f.watchDirs[wd] != aliasDir {
		t.Errorf("the pattern's directory lost its watch with the link's tailer: removed %v, watches %v", n.removed, f.watchDirs)
	}
}

// dropNotifier is a dirNotifier whose kernel removes watches: gone is what
// dropped returns next, and all says the queue overflowed.
type dropNotifier struct {
	*dirNotifier
	gone []int
	all  bool
}

func (n *dropNotifier) dropped() []int {
	g := n.gone
	n.gone = nil
	return g
}

func (n *dropNotifier) take() (map[int]bool, bool) {
	c, all := n.next, n.all
	n.next, n.all = nil, false
	return c, all
}

// oneDirFollower is a follower of dir/*.log with events from n: dir
// watched (wd), one local file app.log in it (tl), the safety look backed
// off to 8 s at now.
func oneDirFollower(t *testing.T, n notifier) (f *Follower, dir string, wd int, tl *tailer, now time.Time) {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f = New(Options{Patterns: []string{filepath.Join(dir, "*.log")}, Safety: time.Second, SafetyMax: 10 * time.Second}, nil)
	f.events = n
	if wd, err = f.watchDir(dir); err != nil {
		t.Fatal(err)
	}
	tl = &tailer{path: filepath.Join(dir, "app.log"), wakeState: wakeState{wd: 1, localFile: true}}
	f.tailers = []*tailer{tl}
	now = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	f.safetyEvery, f.nextSafety = 8*time.Second, now.Add(8*time.Second)
	return f, dir, wd, tl, now
}

// A directory's watch that ends (deleted, renamed away, or its end lost
// with a full queue) is forgotten, after its last events woke its files;
// the rescan that follows watches the directory its name holds now.
func TestFollowForgetsADirectorysEndedWatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// end scripts the end: the directory's last events, its
		// IN_IGNORED, or an overflow, and what its name holds after.
		end func(n *dropNotifier, dir string, wd int)
	}{
		{"deleted, its last events and its end in one read", func(n *dropNotifier, dir string, wd int) {
			n.next, n.gone = map[int]bool{wd: true}, []int{wd}
			delete(n.wds, dir)
		}},
		{"renamed away and made again", func(n *dropNotifier, dir string, wd int) {
			n.next = map[int]bool{wd: true} // IN_MOVE_SELF; the watch stays on the old one
			n.wds[dir] = 500
		}},
		{"made again, its end lost in an overflow", func(n *dropNotifier, dir string, wd int) {
			n.all = true
			n.wds[dir] = 500
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := &dropNotifier{dirNotifier: newDirNotifier()}
			f, dir, wd, tl, now := oneDirFollower(t, n)
			tt.end(n, dir, wd)
			rescan := f.markDue(now.Add(time.Millisecond))
			if !tl.checkPath {
				t.Error("the directory's last events did not send its file to look at its path")
			}
			if w, still := f.dirWatch[dir]; still || !rescan {
				t.Fatalf("the ended watch %d is still the directory's (%d, %v), rescan %v", wd, w, still, rescan)
			}
			if !n.removed[wd] {
				t.Errorf("the ended watch %d was not removed (a directory renamed away keeps it): removed %v", wd, n.removed)
			}
			if !f.nextSafety.Before(now.Add(2 * time.Second)) {
				t.Errorf("next safety look at %v: the directory unwatched should bring it back to Safety", f.nextSafety.Sub(now))
			}
			if _, ok := n.wds[dir]; !ok {
				n.wds[dir] = 500 // made again
			}
			f.watchPatternDirs()
			if got := f.dirWatch[dir]; got != n.wds[dir] || f.watchDirs[got] != dir {
				t.Errorf("after the rescan the directory's watch is %d, want %d", got, n.wds[dir])
			}
		})
	}
}

// A name of a watched directory that now names another directory must not
// take the watch away from another name that still names the old one (the
// watch is one per directory; aliases share it).
func TestWatchTargetKeptWhenAnAliasIsPointedElsewhere(t *testing.T) {
	t.Parallel()
	n := &dropNotifier{dirNotifier: newDirNotifier()}
	f, tl, wd, _, root := aliasedTarget(t, n)
	alias := filepath.Join(root, "alias")
	if err := os.MkdirAll(filepath.Join(root, "real2", "pods", "p"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The alias is pointed elsewhere; then the pod directory sees an event
	// (0.log rotated).
	if err := os.Remove(alias); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "real2"), alias); err != nil {
		t.Fatal(err)
	}
	n.next = map[int]bool{wd: true}
	f.markDue(time.Now())
	f.watchPatternDirs() // the rescan
	if n.removed[wd] || f.dirWatch[tl.targetDir] != wd {
		t.Errorf("the link's target directory %s, still named so and still needed, lost its watch %d: removed %v, dirWatch %v",
			tl.targetDir, wd, n.removed, f.dirWatch)
	}
}

// raceNotifier records a batch (a directory's last events and its
// IN_IGNORED, read together) right after the first of take and dropped in
// a round, as the reading goroutine may.
type raceNotifier struct {
	*dirNotifier
	changed map[int]bool
	gone    []int
	batch   func()
}

func (n *raceNotifier) after() {
	if b := n.batch; b != nil {
		n.batch = nil
		b()
	}
}

func (n *raceNotifier) take() (map[int]bool, bool) {
	c := n.changed
	n.changed = nil
	n.after()
	return c, false
}

func (n *raceNotifier) dropped() []int {
	g := n.gone
	n.gone = nil
	n.after()
	return g
}

// A directory deleted (rm -rf: its last events and its IN_IGNORED in one
// read) between the follower's take and dropped: its last events still
// send its files to look at their paths, at once, not at a safety look.
func TestFollowSeesADirectorysLastEventsReadWithItsEnd(t *testing.T) {
	t.Parallel()
	n := &raceNotifier{dirNotifier: newDirNotifier()}
	f, dir, wd, tl, now := oneDirFollower(t, n)
	// rm -rf: IN_DELETE app.log, IN_DELETE_SELF, IN_IGNORED, in one read.
	n.batch = func() {
		n.changed, n.gone = map[int]bool{wd: true}, []int{wd}
		delete(n.wds, dir)
	}
	f.markDue(now.Add(time.Millisecond))
	f.markDue(now.Add(2 * time.Millisecond))
	if !tl.checkPath {
		t.Error("the deleted directory's last events did not send its file to look at its path: it waits for a safety look")
	}
}
