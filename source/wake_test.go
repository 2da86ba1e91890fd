package source

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/testsync"
)

// modes are the two ways of knowing when to look: the tests of rotation and
// truncation run in both.
var modes = []struct {
	name     string
	pollOnly bool
}{{"events", false}, {"poll", true}}

// eventsOnly are options under which nothing but a file event makes the
// follower look: the poll, the safety look and the rescan are an hour away.
func eventsOnly(path string) Options {
	return Options{Patterns: []string{path}, Poll: time.Hour, Safety: time.Hour, Rescan: time.Hour, DrainQuiet: 200 * time.Millisecond}
}

// With only events to wake it, the follower reads every line once, in
// order, across each kind of rotation.
func TestFollowEventsOnly(t *testing.T) {
	t.Parallel()
	if _, err := newNotifier(); err != nil {
		t.Skip("no file events here:", err)
	}
	tests := []struct {
		name   string
		rotate func(t *testing.T, path string)
	}{
		{"rename", rename},
		{"copytruncate", copytruncate},
		{"create after delete", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "app.log")
			w := newWriter(t, path, "l")
			w.write(10)
			c, _, _ := follow(t, eventsOnly(path))
			c.waitLines(t, 10)
			for round := range 3 {
				w.write(5) // appended: only the file's event says so
				c.waitLines(t, 15+10*round)
				w.close()
				tt.rotate(t, path)
				next := w.next
				w = newWriter(t, path, "l") // a new name: the directory's event
				w.next = next
				w.write(5)
				c.waitLines(t, 20+10*round)
			}
			w.close()
			c.checkInOrder(t, "l", 0, 40)
		})
	}
}

// deafNotifier is a notifier on a filesystem that sends no events: watches
// are added, and nothing ever comes of them.
type deafNotifier struct{ notifier }

func (deafNotifier) changes() <-chan struct{}   { return nil }
func (deafNotifier) take() (map[int]bool, bool) { return nil, false }
func (deafNotifier) seen(int) uint64            { return 0 }
func (deafNotifier) catchUp()                   {}
func (deafNotifier) dropped() []int             { return nil }

// A filesystem that sends no events is not a local one.
func (deafNotifier) eventsArrive(string) bool { return false }

// localDeafNotifier sends no events from a filesystem that says it is
// local: a kernel that fails its own promise.
type localDeafNotifier struct{ deafNotifier }

func (localDeafNotifier) eventsArrive(string) bool { return true }

// failingNotifier cannot add a watch (out of inotify watches).
type failingNotifier struct{ deafNotifier }

func (failingNotifier) watchFile(*os.File, string) (int, error) {
	return -1, errors.New("no space left on device")
}

// Where events never arrive, the safety look finds the bytes they did not
// announce and the file is polled from then on, said once.
func TestFollowFallsBackToPollingWithoutEvents(t *testing.T) {
	t.Parallel()
	if _, err := newNotifier(); err != nil {
		t.Skip("no file events here:", err)
	}
	tests := []struct {
		name string
		wrap func(notifier) notifier
		want string
	}{
		{"events never arrive", func(n notifier) notifier { return deafNotifier{n} }, "file events do not arrive"},
		{"a watch cannot be added", func(n notifier) notifier { return failingNotifier{deafNotifier{n}} }, "file events cannot be watched here"},
		// Found at a backed-off look (SafetyMax) instead of the next Safety.
		{"events never arrive on a local filesystem", func(n notifier) notifier { return localDeafNotifier{deafNotifier{n}} }, "file events do not arrive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "app.log")
			w := newWriter(t, path, "l")
			w.write(3)
			var logs testsync.Buffer
			opt := Options{Patterns: []string{path}, Poll: 5 * time.Millisecond, Safety: 30 * time.Millisecond,
				SafetyMax: 120 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			c, _, _ := followWith(t, opt, func(f *Follower) {
				f.newNotifier = func() (notifier, error) {
					n, err := newNotifier()
					if err != nil {
						return nil, err
					}
					return tt.wrap(n), nil
				}
			})
			c.waitLines(t, 3)
			for i := range 5 {
				w.write(2)
				c.waitLines(t, 5+2*i)
			}
			testsync.WaitFor(t, "the switch to polling logged", func() bool { return strings.Contains(logs.String(), tt.want) })
			w.write(2)
			w.close()
			c.waitLines(t, 15)
			c.checkInOrder(t, "l", 0, 15)
			if n := strings.Count(logs.String(), tt.want); n != 1 {
				t.Errorf("the switch to polling logged %d times, want once:\n%s", n, logs.String())
			}
		})
	}
}

// With events the follower looks at a busy file at each write, not at the
// next safety look: the fallback is never chosen where events arrive.
func TestFollowEventsKeepEvents(t *testing.T) {
	t.Parallel()
	if _, err := newNotifier(); err != nil {
		t.Skip("no file events here:", err)
	}
	path := filepath.Join(t.TempDir(), "app.log")
	w := newWriter(t, path, "l")
	var logs testsync.Buffer
	opt := Options{Patterns: []string{path}, Poll: time.Hour, Safety: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	c, _, _ := follow(t, opt)
	for i := range 20 {
		w.write(3)
		c.waitLines(t, 3*(i+1))
		time.Sleep(7 * time.Millisecond) // writes spread over several safety looks
	}
	w.close()
	c.checkInOrder(t, "l", 0, 60)
	checkNotPolled(t, &logs, "events arrived")
}

// checkNotPolled fails the test when the follower's log says it fell back
// to polling; why says why it should not have.
func checkNotPolled(t *testing.T, logs *testsync.Buffer, why string) {
	t.Helper()
	if strings.Contains(logs.String(), "polling") {
		t.Errorf("%s, yet the follower fell back to polling:\n%s", why, logs.String())
	}
}

// Two copytruncates between two looks: the first copy holds only lines
// already read, the second the lines written between the two. Those are
// read from the second copy, in order, once.
func TestFollowTwoCopytruncatesBetweenLooks(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "app.log")
			w := newWriter(t, path, "l")
			w.write(10)
			opt := Options{Patterns: []string{path}, Poll: 400 * time.Millisecond, PollOnly: m.pollOnly}
			if !m.pollOnly {
				opt = eventsOnly(path)
			}
			c, _, _ := follow(t, opt)
			c.waitLines(t, 10)
			c.waitIdle(t)
			for i := range 2 {
				if i > 0 {
					w.write(5) // between the two: only the second copy has them
				}
				w.close()
				copytruncate(t, path)
				next := w.next
				w = newWriter(t, path, "l")
				w.next = next
			}
			w.write(5)
			w.close()
			c.waitLines(t, 20)
			time.Sleep(50 * time.Millisecond) // let any duplicate arrive
			c.checkInOrder(t, "l", 0, 20)
		})
	}
}

var _ = fmt.Sprint

// Kubernetes' /var/log/containers/*.log are symbolic links into each pod's
// directory under /var/log/pods. A rotation there (rename, then a new file
// made a moment later) makes no event in the directory the pattern names:
// the follower watches the links' target directories too, so the new
// file's lines come by events alone, not at the next safety look.
func TestFollowSymlinkedFileRotatedInItsTargetDirectory(t *testing.T) {
	t.Parallel()
	if _, err := newNotifier(); err != nil {
		t.Skip("no file events here:", err)
	}
	root := t.TempDir()
	containers, pod := filepath.Join(root, "containers"), filepath.Join(root, "pods", "ns_ou-0_uid", "openunison")
	for _, d := range []string{containers, pod} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	target := filepath.Join(pod, "0.log")
	w := newWriter(t, target, "l")
	w.write(10)
	if err := os.Symlink(target, filepath.Join(containers, "ou-0_ns_openunison-abc.log")); err != nil {
		t.Fatal(err)
	}
	c, _, _ := follow(t, eventsOnly(filepath.Join(containers, "*.log")))
	c.waitLines(t, 10)
	// The runtime renames the log, writes its last lines to the old file,
	// and only then makes the new one: when the follower looks at the
	// link after the rename, it names no file yet.
	if err := os.Rename(target, target+".20261204-120000"); err != nil {
		t.Fatal(err)
	}
	w.write(5)
	c.waitLines(t, 15)
	w.reopen()
	w.write(5)
	c.waitLines(t, 20)
	w.close()
	c.checkExactlyOnce(t, "l", 20)
}
