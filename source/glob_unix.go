//go:build unix

package source

import (
	"os"

	"golang.org/x/sys/unix"
)

// readDirNames lists dir's names, unsorted; a directory that cannot be
// opened lists none and one that fails midway lists what was read.
//
// It opens dir with O_DIRECTORY itself because os.Open would register the
// descriptor with the runtime's poller (four fcntl and an epoll_ctl, refused
// for a directory), and it asks only for names because os.ReadDir stats
// every entry on filesystems whose directories hold no file types (XFS with
// ftype=0, ext2 without "filetype", NFSv3, some FUSE): a stat per file at
// every look, and no list at all for a user who may read the directory but
// not search it. Open, getdents until empty, one fcntl in os.NewFile, close.
func readDirNames(dir string) []string {
	fd, err := openDir(dir, unix.Open)
	if err != nil {
		return nil
	}
	d := os.NewFile(uintptr(fd), dir)
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	return names
}

// openDir opens dir with open, again while it is interrupted: the runtime's
// preemption signal can interrupt an open on FUSE or CIFS, and os.Open,
// which filepath.Glob uses, retries too. Without it a look would find no
// file there, and a rotated file could go undrained.
func openDir(dir string, open func(string, int, uint32) (int, error)) (int, error) {
	for {
		fd, err := open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}
