package source

import (
	"os"
	"path/filepath"
	"testing"

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
