package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/idptest"
)

// run executes graceguard with args as main would and returns what it wrote
// and its exit status.
func run(t *testing.T, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runWith(t, runners{}, stdin, args...)
}

// wantUsageError runs args and wants a usage error: exit 2, nothing on
// stdout, and stderr exactly want.
func wantUsageError(t *testing.T, args []string, want string) {
	t.Helper()
	stdout, stderr, code := run(t, nil, args...)
	if code != exitUsage || stdout != "" || stderr != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, nothing on stdout and\n%s", code, stdout, stderr, exitUsage, want)
	}
}

// runWith is run with commands' run functions replaced where set, as tests
// that play a command at a test's pace do.
func runWith(t *testing.T, with runners, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errOut bytes.Buffer
	cmd := newRootCmdWith(stdin, &out, &errOut, with)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	code = exitCode(&errOut, err)
	return out.String(), errOut.String(), code
}

// repoRoot makes the test run from the repository root, so paths (and the
// sources named in alerts) read as a user would type them.
func repoRoot(t *testing.T) {
	t.Helper()
	t.Chdir(filepath.Join("..", ".."))
}

func TestUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	tests := [][]string{
		{"--bogus"},
		{"frobnicate"},
		{"scan"},
		{"scan", "--format", "xml", "x.log"},
		{"scan", "--min-severity", "urgent", "x.log"},
		{"scan", "--timezone", "Mars/Olympus", "x.log"},
		{"scan", "--color", "sometimes", "x.log"},
		{"scan", "--rules", "does-not-exist.yaml", "x.log"},
		{"rules", "check"},
		{"rules"},
		{"version", "extra"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, stderr, code := run(t, nil, args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr %q", code, exitUsage, stderr)
			}
			if !strings.HasPrefix(stderr, "graceguard: ") || strings.Contains(stderr, "goroutine") {
				t.Errorf("stderr %q: want one clear graceguard: line", stderr)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	out, _, code := run(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "graceguard ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	out, _, code := run(t, nil, "completion", "bash")
	if code != 0 || !strings.Contains(out, "graceguard") {
		t.Errorf("completion bash: exit %d", code)
	}
}

func TestDemoCommandRuns(t *testing.T) {
	t.Parallel()
	// The story played fast (as demo's own TestDemoStory plays it): the
	// demo at its own pace takes ten seconds, which CI spends once running
	// the README's demo command itself.
	users := idptest.FastUsers(t)
	fast := func(ctx context.Context, o *demoOptions) error {
		o.grace, o.tokenTTL, o.pause, o.users = 2*time.Second, 5*time.Second, 100*time.Millisecond, users
		return runDemo(ctx, o)
	}
	out, stderr, code := runWith(t, runners{demo: fast}, nil, "demo", "--color", "never")
	if code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(out, "reuse-geo-jump") || !strings.Contains(out, "benign race: 0 alerts") {
		t.Errorf("demo output:\n%s", out)
	}
}

// Every flag that names an address to listen on is the user's to fix when
// it cannot be listened on, malformed or taken: exit 2 naming the flag, as
// watch --listen always did (idp serve's exited 1).
func TestListenAddressErrorsExit2(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	busy := taken.Addr().String()
	dir := t.TempDir()
	proxyLog := filepath.Join(dir, "ingress.log")
	for _, tt := range []struct {
		name string
		args []string
		flag string
	}{
		{"idp serve --addr malformed", []string{"idp", "serve", "--addr", "nonsense"}, "--addr nonsense"},
		{"idp serve --addr taken", []string{"idp", "serve", "--addr", busy}, "--addr " + busy},
		{"idp serve --proxy-listen malformed", []string{"idp", "serve", "--addr", "127.0.0.1:0", "--proxy-listen", "nonsense", "--proxy-log", proxyLog}, "--proxy-listen nonsense"},
		{"idp serve --proxy-listen taken", []string{"idp", "serve", "--addr", "127.0.0.1:0", "--proxy-listen", busy, "--proxy-log", proxyLog}, "--proxy-listen " + busy},
		{"watch --listen taken", []string{"watch", "--state-dir", "", "--listen", busy, filepath.Join(dir, "openunison.log")}, "--listen " + busy},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := run(t, nil, tt.args...)
			if code != exitUsage || !strings.HasPrefix(stderr, "graceguard: "+tt.flag+": ") {
				t.Errorf("exit %d, stderr %q; want exit %d and a line naming %s", code, stderr, exitUsage, tt.flag)
			}
		})
	}
}

// checkWatchRunsOrRefuses runs watch over stdin with args (no state
// directory) and checks that it runs (want "") or is refused as a usage
// error: exit 2 and one line of stderr starting with want.
func checkWatchRunsOrRefuses(t *testing.T, args []string, want string) {
	t.Helper()
	args = append([]string{"watch", "--state-dir", ""}, args...)
	_, stderr, code := run(t, nil, append(args, "-")...)
	if want == "" {
		if code != 0 {
			t.Errorf("exit %d, stderr %q; want a watch that runs", code, stderr)
		}
		return
	}
	if code != exitUsage || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q; want 2 and one line starting %q", code, stderr, want)
	}
}
