package source

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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
	if strings.Contains(logs.String(), "polling") {
		t.Errorf("the events were held back, not missing, yet the follower fell back to polling:\n%s", logs.String())
	}
}
