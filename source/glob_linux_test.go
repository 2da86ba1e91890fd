package source

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// globChildEnv names the directory the re-executed test binary globs in
// TestGlobChild; unset, TestGlobChild is not a child and skips.
const globChildEnv = "GRACEGUARD_GLOB_CHILD_DIR"

// TestGlobWhereDirectoriesHoldNoFileTypes globs on a filesystem whose
// directory entries carry no file type (ext2 made without "filetype"; XFS
// with ftype=0, NFSv3 and some FUSE filesystems are the same), as a user
// who may list a directory but not search it. os.ReadDir must stat every
// entry there to learn its type, and the stat is refused: it lists nothing,
// where filepath.Glob, which needs only the names, lists every file.
//
// It needs root (to make and mount the image, then drop to nobody), mkfs.ext2
// (Debian package e2fsprogs) and loop devices, and skips without them.
func TestGlobWhereDirectoriesHoldNoFileTypes(t *testing.T) {
	t.Parallel() // its mount, files and child are its own
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a loop image")
	}
	mkfs, err := exec.LookPath("mkfs.ext2")
	if err != nil {
		t.Skip("needs mkfs.ext2: apt-get install e2fsprogs")
	}
	top := t.TempDir()
	image, mnt := filepath.Join(top, "ext2.img"), filepath.Join(top, "mnt")
	if err := os.WriteFile(image, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(image, 4<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-q", "-F", "-O", "^filetype", image).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext2: %v\n%s", err, out)
	}
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "loop", image, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a loop image here: %v: %s", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	listOnly := filepath.Join(mnt, "logs")
	if err := os.Mkdir(listOnly, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"openunison.log", "openunison.log.1", "nginx.log"} {
		if err := os.WriteFile(filepath.Join(listOnly, name), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(listOnly, 0o444); err != nil {
		t.Fatal(err)
	}

	// The test binary and the path to the mount must be reachable by nobody.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(top, "source.test")
	if err := copyFile(self, bin); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Dir(top), top, bin, mnt} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	child := exec.Command(bin, "-test.run=^TestGlobChild$", "-test.count=1")
	child.Env = append(os.Environ(), globChildEnv+"="+listOnly)
	child.Dir = top
	child.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := child.CombinedOutput()
	if ee := (*exec.ExitError)(nil); err != nil && !errors.As(err, &ee) {
		// The binary cannot be run as nobody: TMPDIR in a directory only
		// root may search, or no right to change user.
		t.Skipf("cannot run the test binary as nobody: %v", err)
	}
	if err != nil {
		t.Fatalf("glob as nobody: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "globbed 2 of openunison.log*") {
		t.Fatalf("the child did not glob:\n%s", out)
	}
}

// TestGlobChild is TestGlobWhereDirectoriesHoldNoFileTypes' unprivileged
// half, run in a re-executed test binary.
func TestGlobChild(t *testing.T) {
	dir := os.Getenv(globChildEnv)
	if dir == "" {
		t.Skip("run by TestGlobWhereDirectoriesHoldNoFileTypes")
	}
	if _, err := os.ReadDir(dir); !errors.Is(err, os.ErrPermission) {
		t.Fatalf("os.ReadDir(%s) = %v; the filesystem has file types after all or the user may search", dir, err)
	}
	pattern := filepath.Join(dir, "openunison.log*")
	got, err := glob(pattern)
	want, wantErr := filepath.Glob(pattern)
	if err != nil || wantErr != nil || !slices.Equal(got, want) || len(want) != 2 {
		t.Fatalf("glob(%s) = %q, %v; filepath.Glob: %q, %v", pattern, got, err, want, wantErr)
	}
	os.Stdout.WriteString("globbed 2 of openunison.log*\n")
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o755)
}

// An open interrupted by a signal is tried again, as os.Open does.
func TestOpenDirRetriesInterruptedOpens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	interruptions := 3
	fd, err := openDir(dir, func(path string, mode int, perm uint32) (int, error) {
		if interruptions > 0 {
			interruptions--
			return -1, unix.EINTR
		}
		return unix.Open(path, mode, perm)
	})
	if err != nil {
		t.Fatalf("openDir: %v", err)
	}
	unix.Close(fd)
	if interruptions != 0 {
		t.Errorf("%d interruptions left", interruptions)
	}
	if _, err := openDir(filepath.Join(dir, "missing"), unix.Open); !errors.Is(err, unix.ENOENT) {
		t.Errorf("a missing directory: %v, want ENOENT", err)
	}
}
