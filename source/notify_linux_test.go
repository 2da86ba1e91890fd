package source

import (
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/testsync"

	"golang.org/x/sys/unix"
)

// Local filesystems are believed; anything else, or a directory that
// cannot be looked at, has to show its events first.
func TestEventsArriveOnLocalFilesystems(t *testing.T) {
	t.Parallel()
	n, err := newNotifier()
	if err != nil {
		t.Skip("no file events here:", err)
	}
	defer n.close()
	tmp := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(tmp, &st); err != nil {
		t.Fatal(err)
	}
	// A symbolic link in the temporary directory to a file elsewhere: the
	// file's filesystem is the one that counts.
	link := filepath.Join(tmp, "elsewhere.log")
	if err := os.Symlink("/proc/self/status", link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir  string
		want bool
	}{
		{"/proc", false},                         // procfs: the kernel's, but not a file store
		{filepath.Join(tmp, "missing"), false},   // statfs fails
		{tmp, localFilesystems[uint32(st.Type)]}, // whatever the machine's temporary directory is on
		{link, false},
	} {
		if got := n.eventsArrive(tc.dir); got != tc.want {
			t.Errorf("eventsArrive(%s) = %v, want %v", tc.dir, got, tc.want)
		}
	}
	t.Logf("the temporary directory's filesystem 0x%X is local: %v", st.Type, localFilesystems[uint32(st.Type)])
}

// A busy machine may leave the goroutine that reads the events unscheduled
// while a safety look reads bytes and the next one judges them: the events
// the kernel holds by then were sent all the same, so the file is not
// polled. (CI under the race detector once fell back to polling in
// TestFollowEventsKeepEvents this way.)
func TestFollowEventsHeldBackAreStillEvents(t *testing.T) {
	t.Parallel()
	if _, err := newNotifier(); err != nil {
		t.Skip("no file events here:", err)
	}
	path := filepath.Join(t.TempDir(), "app.log")
	w := newWriter(t, path, "l")
	w.write(1)
	var logs testsync.Buffer
	opt := Options{Patterns: []string{path}, Poll: time.Hour, Safety: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	// The reader is held before its first read.
	held, release := make(chan struct{}), make(chan struct{})
	var reads atomic.Int32
	c, _, _ := followWith(t, opt, func(f *Follower) {
		f.newNotifier = func() (notifier, error) {
			return newInotify(func() {
				if reads.Add(1) == 1 {
					close(held)
					<-release
				}
			})
		}
	})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	c.waitLines(t, 1)
	<-held
	w.write(3) // announced to a reader that does not read
	c.waitLines(t, 4)
	// Two safety looks: the one that read the lines, and the one after.
	time.Sleep(3 * opt.Safety)
	close(release)
	w.write(2)
	c.waitLines(t, 6)
	w.close()
	c.checkInOrder(t, "l", 0, 6)
	checkNotPolled(t, &logs, "the events were held back, not missing")
}

// forEachWayADirectoryGoes runs test, in parallel, for the two ways a
// followed directory goes while its name may come back: deleted, or renamed
// away (its watch goes with it). Each gets a fresh pattern directory, dir,
// whose a.log holds two lines, and away, which makes dir go that way. It
// skips where there are no file events.
func forEachWayADirectoryGoes(t *testing.T, test func(t *testing.T, dir string, a *writer, away func(dir string) error)) {
	t.Helper()
	if _, err := newNotifier(); err != nil {
		t.Skip("no file events here:", err)
	}
	for _, way := range []struct {
		name string
		away func(dir string) error
	}{
		{"deleted", os.RemoveAll},
		{"renamed away", func(dir string) error { return os.Rename(dir, dir+".old") }},
	} {
		t.Run(way.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "logs")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			a := newWriter(t, filepath.Join(dir, "a.log"), "l")
			a.write(2)
			test(t, dir, a, way.away)
		})
	}
}

// A pattern's directory deleted (or renamed away) and made again under the
// same name is a new directory: the old one's watch does not see it (the
// kernel dropped it, IN_IGNORED, or it went with the old directory), and
// the new one must be watched once it is there, or every new file in it
// waits for a safety look that has backed off (up to SafetyMax, 10 s by
// default), from then on.
func TestFollowWatchesADirectoryMadeAgain(t *testing.T) {
	t.Parallel()
	forEachWayADirectoryGoes(t, func(t *testing.T, dir string, a *writer, away func(dir string) error) {
		// Rescans come with safety looks, as by default (both 1 s).
		opt := Options{Patterns: []string{filepath.Join(dir, "*.log")}, Poll: time.Hour, Safety: 50 * time.Millisecond,
			SafetyMax: time.Hour, Rescan: 50 * time.Millisecond, DrainQuiet: 10 * time.Millisecond}
		looks := make(chan time.Time, 64)
		c, _, _ := followWith(t, opt, func(f *Follower) {
			f.newNotifier = func() (notifier, error) {
				n, err := newNotifier()
				return safetyLooks{n, looks}, err
			}
		})
		c.waitLines(t, 2)
		// The safety look backs off (50 ms doubling: looks at 0.05,
		// 0.15, 0.35, 0.75, 1.55, 3.15 s): once a look comes 0.7 s or
		// more after the one before, the next is twice that away,
		// past what the new file below is given. Awaited, not slept:
		// a fixed sleep had to be long enough for a slow machine.
		const within = time.Second
		for prev := nextLook(t, looks); ; {
			at := nextLook(t, looks)
			if at.Sub(prev) >= 7*within/10 {
				break
			}
			prev = at
		}
		a.close()
		if err := away(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		a = newWriter(t, filepath.Join(dir, "a.log"), "l")
		a.next = 2
		a.write(2)
		c.waitLines(t, 4)
		// The old a.log is drained by now: the rescan when it ends
		// does not find the new file below either.
		time.Sleep(200 * time.Millisecond)
		// A new file in the new directory: its watch announces it.
		b := newWriter(t, filepath.Join(dir, "b.log"), "l")
		b.next = 4
		b.write(2)
		if !c.linesWithin(6, within) {
			t.Fatalf("a new file's lines were not read within %v: the directory made again is not watched", within)
		}
		a.close()
		b.close()
		c.checkInOrder(t, "l", 0, 6)
	})
}

// nextLook waits for the follower's next safety look. Backing off from
// 50 ms, the looks the test waits for come within 1.6 s of each other;
// none for 10 s is a follower that stopped looking, a failure, not a hang
// until the test binary's timeout.
func nextLook(t *testing.T, looks <-chan time.Time) time.Time {
	t.Helper()
	select {
	case at := <-looks:
		return at
	case <-time.After(10 * time.Second):
		t.Fatal("no safety look for 10 s: the follower stopped looking")
		return time.Time{}
	}
}

// safetyLooks is the follower's notifier, telling the test when each
// safety look came: the follower asks for a watched file's event count at
// each (safetyDue), and the test's one file is the only one asked for.
type safetyLooks struct {
	notifier
	at chan<- time.Time
}

func (s safetyLooks) seen(wd int) uint64 {
	select {
	case s.at <- time.Now():
	default: // the test no longer listens
	}
	return s.notifier.seen(wd)
}

// readerGate holds the notifier's reading goroutine before its next wait
// for events, as an unscheduled goroutine on a busy machine would, so that
// what a test does meanwhile reaches the follower in one read.
type readerGate struct {
	arm     chan struct{}
	held    chan struct{}
	release chan struct{}
}

func newReaderGate(t *testing.T) *readerGate {
	g := &readerGate{arm: make(chan struct{}, 1), held: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(g.open) // a failed test must not leave the reader, and Run, stuck
	return g
}

func (g *readerGate) beforeRead() {
	select {
	case <-g.arm:
		close(g.held)
		<-g.release
	default:
	}
}

func (g *readerGate) open() {
	select {
	case <-g.release:
	default:
		close(g.release)
	}
}

// A pattern's directory that goes while the follower still has a file in
// it open, made again before the follower looks. The kernel ends the old
// directory's watch only once nothing in it is open (deleted: the file the
// follower drains keeps it; renamed away: never, the watch goes with it),
// so no IN_IGNORED comes and forgetDropped has nothing to forget: only
// asking the name again (replacedDirWatches, forgetNames) finds that it
// holds another directory now. With nothing but events to wake the
// follower, a new file there is read only if the new directory is watched.
func TestFollowAsksTheNameOfADirectoryGoneWithAFileOpen(t *testing.T) {
	t.Parallel()
	forEachWayADirectoryGoes(t, func(t *testing.T, dir string, a *writer, away func(dir string) error) {
		opt := eventsOnly(filepath.Join(dir, "*.log"))
		// The old a.log, rotated away, stays open to the end: the
		// kernel keeps the old directory's watch all the while.
		opt.DrainQuiet = time.Hour
		gate := newReaderGate(t)
		c, _, _ := followWith(t, opt, func(f *Follower) {
			f.newNotifier = func() (notifier, error) { return newInotify(gate.beforeRead) }
		})
		c.waitLines(t, 2)
		gate.arm <- struct{}{}
		a.write(1) // wakes the reader, which then stops before its next wait
		<-gate.held
		a.close()
		if err := away(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		a = newWriter(t, filepath.Join(dir, "a.log"), "l")
		a.next = 3
		a.write(2)
		gate.open()
		c.waitLines(t, 5) // the old directory's last event's rescan finds it
		b := newWriter(t, filepath.Join(dir, "b.log"), "l")
		b.next = 5
		b.write(2)
		if !c.linesWithin(7, 5*time.Second) {
			t.Fatal("a new file in the directory made again was not read: the old directory's watch is taken for the new one's")
		}
		a.close()
		b.close()
		c.checkExactlyOnce(t, "l", 7)
	})
}

// dropsTaken is the follower's notifier, telling the test which ended
// watches the follower has been told of.
type dropsTaken struct {
	notifier
	taken chan<- int
}

func (d dropsTaken) dropped() []int {
	gone := d.notifier.dropped()
	for _, wd := range gone {
		select {
		case d.taken <- wd:
		default: // the test no longer listens
		}
	}
	return gone
}

// A followed file's own watch that the kernel ends while the file is still
// open and read (without /proc watchFile watches by name, maybe a file
// renamed away and deleted since): its IN_IGNORED comes with no event of
// the file's directory, and forgetNames looks at directories only, so
// only forgetDropped hears of it. The file is then looked at by safety
// looks alone, and the lines they find that no event announced are no
// sign that events do not arrive in its directory: it and its directory
// are not polled. Kept, the ended watch made the first such look a
// suspect and the next one switch the whole directory to polling, with a
// warning that is not true.
//
// The test ends the watch through the follower's inotify descriptor: the
// kernel then sends the IN_IGNORED it sends for any watch it ends.
func TestFollowFileWhoseWatchEndedIsLookedAtNotPolled(t *testing.T) {
	t.Parallel()
	if _, err := newNotifier(); err != nil {
		t.Skip("no file events here:", err)
	}
	path := filepath.Join(t.TempDir(), "app.log")
	w := newWriter(t, path, "l")
	w.write(1)
	var logs testsync.Buffer
	opt := Options{Patterns: []string{path}, Poll: time.Hour, Safety: 20 * time.Millisecond, SafetyMax: 40 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	var in *inotify
	taken := make(chan int, 16)
	c, _, _ := followWith(t, opt, func(f *Follower) {
		f.newNotifier = func() (notifier, error) {
			n, err := newInotify(nil)
			in = n
			return dropsTaken{n, taken}, err
		}
	})
	c.waitLines(t, 1)
	// Adding a watch to an inode this descriptor watches hands back its
	// watch: the follower's, on the file it has open.
	wd, err := unix.InotifyAddWatch(in.fd, path, fileEvents)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.InotifyRmWatch(in.fd, uint32(wd)); err != nil {
		t.Fatal(err)
	}
	for told := false; !told; {
		select {
		case got := <-taken:
			told = got == wd
		case <-time.After(testsync.Patience):
			t.Fatalf("the follower was not told that watch %d ended", wd)
		}
	}
	for i := range 4 {
		w.write(1) // announced by no event: found by a safety look
		c.waitLines(t, 2+i)
	}
	w.close()
	c.checkInOrder(t, "l", 0, 5)
	checkNotPolled(t, &logs, "the file's watch ended; events still arrive in its directory")
}
