package source

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// bornAt is when the file at path was made, when the filesystem keeps it
// (statx's birth time: ext4, xfs, btrfs, tmpfs since Linux 5.x).
func bornAt(path string) (time.Time, bool) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_STATX_SYNC_AS_STAT, unix.STATX_BTIME, &stx); err != nil || stx.Mask&unix.STATX_BTIME == 0 {
		return time.Time{}, false
	}
	return time.Unix(stx.Btime.Sec, int64(stx.Btime.Nsec)), true
}

// bornOf is bornAt for an open file: the one looked at, whatever its
// name is by now.
func bornOf(file *os.File) (time.Time, bool) {
	var stx unix.Statx_t
	if err := unix.Statx(int(file.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_STATX_SYNC_AS_STAT, unix.STATX_BTIME, &stx); err != nil || stx.Mask&unix.STATX_BTIME == 0 {
		return time.Time{}, false
	}
	return time.Unix(stx.Btime.Sec, int64(stx.Btime.Nsec)), true
}
