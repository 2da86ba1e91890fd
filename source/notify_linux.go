//go:build linux

package source

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// What a file's and a directory's watch ask for. A file's: its bytes and
// size (a write, a truncation), its links (deleted) and its name (renamed).
// A directory's: names coming and going (a rotation, a new file a glob
// matches). Modifications of a directory's files are not asked of the
// directory: the files' own watches say which one changed.
const (
	fileEvents = unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_MOVE_SELF | unix.IN_DELETE_SELF
	dirEvents  = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
		unix.IN_MOVE_SELF | unix.IN_DELETE_SELF | unix.IN_ONLYDIR
)

// inotify is the Linux notifier: one inotify descriptor, read by one
// goroutine that records which watches saw events and wakes the follower.
type inotify struct {
	fd   int
	file *os.File
	raw  syscall.RawConn // file's, to read under mu when the kernel has events
	wake chan struct{}
	done chan struct{}

	// beforeRead, when set (tests), is called before the reading
	// goroutine waits for events each time: a test holds it back there,
	// as a busy machine may.
	beforeRead func()

	mu      sync.Mutex
	buf     [64 << 10]byte // read into under mu
	changed map[int]bool
	counts  map[int]uint64
	gone    []int // watches the kernel removed since the last dropped
	all     bool  // the queue overflowed: events were lost
}

func newNotifier() (notifier, error) { return newInotify(nil) }

func newInotify(beforeRead func()) (*inotify, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	n := &inotify{
		fd: fd, file: os.NewFile(uintptr(fd), "inotify"),
		wake: make(chan struct{}, 1), done: make(chan struct{}),
		changed: map[int]bool{}, counts: map[int]uint64{}, beforeRead: beforeRead,
	}
	if n.raw, err = n.file.SyscallConn(); err != nil {
		n.file.Close()
		return nil, fmt.Errorf("inotify: %w", err)
	}
	go n.read()
	return n, nil
}

// watchFile watches the file f has open, whatever its name is by now: the
// path of its descriptor in /proc names that very inode, not whatever file
// took its name since it was opened.
func (n *inotify) watchFile(f *os.File, path string) (int, error) {
	wd, err := unix.InotifyAddWatch(n.fd, "/proc/self/fd/"+strconv.Itoa(int(f.Fd())), fileEvents)
	if errors.Is(err, unix.ENOENT) {
		// No /proc (a very bare container): the name will do, and the
		// directory's events and the safety look correct a race.
		wd, err = unix.InotifyAddWatch(n.fd, path, fileEvents)
	}
	if err != nil {
		return -1, fmt.Errorf("inotify_add_watch %s: %w", path, err)
	}
	return wd, nil
}

func (n *inotify) watchDir(dir string) (int, error) {
	wd, err := unix.InotifyAddWatch(n.fd, dir, dirEvents)
	if err != nil {
		return -1, fmt.Errorf("inotify_add_watch %s: %w", dir, err)
	}
	return wd, nil
}

// localFilesystems are the filesystems whose every change this kernel
// makes itself, by their statfs magic: inotify reports them all. Left out:
// network and cluster filesystems (NFS, SMB, Ceph, GFS2: another machine
// writes), FUSE (virtiofs, sshfs: the host or a daemon does) and overlayfs
// (a change to a lower or upper layer made outside the mount is not
// reported through it).
var localFilesystems = map[uint32]bool{
	0xEF53:     true, // ext2, ext3, ext4
	0x58465342: true, // XFS
	0x9123683E: true, // Btrfs
	0xF2F52010: true, // F2FS
	0x2FC12FC1: true, // ZFS
	0x01021994: true, // tmpfs (an emptyDir in memory)
	0x858458F6: true, // ramfs
}

func (n *inotify) eventsArrive(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return localFilesystems[uint32(st.Type)] // Type is int32 on some 32-bit systems
}

func (n *inotify) unwatch(wd int) {
	// EINVAL: the kernel removed it already (the file was deleted).
	_, _ = unix.InotifyRmWatch(n.fd, uint32(wd))
	n.mu.Lock()
	delete(n.counts, wd)
	delete(n.changed, wd)
	n.mu.Unlock()
}

func (n *inotify) changes() <-chan struct{} { return n.wake }

func (n *inotify) take() (map[int]bool, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var changed map[int]bool
	if len(n.changed) > 0 {
		changed, n.changed = n.changed, map[int]bool{}
	}
	all := n.all
	n.all = false
	return changed, all
}

func (n *inotify) dropped() []int {
	n.mu.Lock()
	defer n.mu.Unlock()
	gone := n.gone
	n.gone = nil
	return gone
}

func (n *inotify) seen(wd int) uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.counts[wd]
}

func (n *inotify) close() error {
	err := n.file.Close() // ends the reading goroutine's read
	<-n.done
	return err
}

// read records events until the descriptor is closed. It reads under mu,
// as catchUp does: an event is then either in the kernel's queue or
// counted, never read by this goroutine and not counted yet, where
// catchUp could not find it.
func (n *inotify) read() {
	defer close(n.done)
	for {
		if n.beforeRead != nil {
			n.beforeRead()
		}
		var readErr error
		err := n.raw.Read(func(fd uintptr) bool {
			n.mu.Lock()
			defer n.mu.Unlock()
			var got bool
			got, readErr = n.readQueued(int(fd))
			return got || readErr != nil // false: wait until there are events
		})
		if err != nil || readErr != nil {
			return
		}
		n.signal()
	}
}

// catchUpReads bounds one catchUp: 16 reads of 64 KiB, ~65,000 events.
const catchUpReads = 16

// catchUp records the events the kernel holds now, which the reading
// goroutine may not have read yet on a busy machine.
func (n *inotify) catchUp() {
	n.mu.Lock()
	var got bool
	_ = n.raw.Control(func(fd uintptr) {
		// Bounded: writers that keep the queue from ever emptying must not
		// hold the follower here. Whatever is left is read as usual.
		for range catchUpReads {
			more, _ := n.readQueued(int(fd))
			if !more {
				return
			}
			got = true
		}
	})
	n.mu.Unlock()
	if got {
		n.signal()
	}
}

func (n *inotify) signal() {
	select {
	case n.wake <- struct{}{}:
	default: // a wake is pending: the follower takes every change then
	}
}

// readQueued reads and records what one read of fd (non-blocking) gets,
// and reports whether it got any events. Called with mu held. The reading
// goroutine reads once a wake, as a file's Read would (the next call finds
// the queue empty and waits); catchUp reads until the queue is empty.
func (n *inotify) readQueued(fd int) (got bool, err error) {
	for {
		m, err := unix.Read(fd, n.buf[:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return false, nil
		case err != nil:
			return false, err
		case m <= 0:
			return false, nil
		}
		n.record(n.buf[:m])
		return true, nil
	}
}

// record counts the events in buf. Called with mu held.
func (n *inotify) record(buf []byte) {
	for off := 0; off+unix.SizeofInotifyEvent <= len(buf); {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
		off += unix.SizeofInotifyEvent + int(ev.Len)
		if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
			n.all = true
			continue
		}
		if ev.Mask&unix.IN_IGNORED != 0 {
			// The watch is gone (its file or directory deleted, its
			// filesystem unmounted, or unwatch); its last events came
			// before.
			n.gone = append(n.gone, int(ev.Wd))
			delete(n.counts, int(ev.Wd))
			continue
		}
		n.changed[int(ev.Wd)] = true
		n.counts[int(ev.Wd)]++
	}
}
