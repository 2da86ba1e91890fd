//go:build unix

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/graceguard/graceguard/idp"
	"github.com/graceguard/graceguard/internal/idptest"
	"github.com/graceguard/graceguard/internal/testsync"
)

// An idp serve process behind its proxy, refreshed without pause, has both
// logs renamed away three times, each followed by SIGUSR1, as logrotate's
// nginx config does; then their directory is renamed away and SIGUSR1
// fails to reopen them, which is said naming each file while the logs go
// on where they were, until a SIGUSR1 once the directory is back. Across
// the five generations every line is there once and whole: the IdP's log
// is what serve wrote to stdout, byte for byte, and the proxy's holds one
// record per token request made.
func TestIdpServeReopensLogsOnUSR1(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "logs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	idpLog, proxyLog := filepath.Join(dir, "openunison.log"), filepath.Join(dir, "ingress.log")
	stdout := &testsync.Buffer{}
	serve := startIdpServeProcess(t, stdout, "--grace 5s --log "+idpLog+" --proxy-listen 127.0.0.1:0 --proxy-log "+proxyLog)

	traffic := serve.refresh()

	written := func(paths ...string) func() bool {
		return func() bool {
			for _, p := range paths {
				if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
					return false
				}
			}
			return true
		}
	}
	const renames = 3
	for gen := 1; gen <= renames; gen++ {
		serve.waitFor("both logs written to", written(idpLog, proxyLog))
		for _, p := range []string{idpLog, proxyLog} {
			if err := os.Rename(p, fmt.Sprintf("%s.%d", p, gen)); err != nil {
				t.Fatal(err)
			}
		}
		serve.signal(syscall.SIGUSR1)
	}

	// The directory goes: the reopen fails and the logs go on where they are.
	serve.waitFor("both reopened logs written to", written(idpLog, proxyLog))
	old := dir + ".old"
	if err := os.Rename(dir, old); err != nil {
		t.Fatal(err)
	}
	serve.signal(syscall.SIGUSR1)
	serve.waitFor("the failed reopens in the log, naming each file", func() bool {
		log := serve.stderr.String()
		return strings.Count(log, "reopening a log failed") == 2 &&
			strings.Contains(log, "file="+idpLog) && strings.Contains(log, "file="+proxyLog)
	})
	sizes := map[string]int64{}
	for _, p := range []string{idpLog, proxyLog} {
		fi, err := os.Stat(filepath.Join(old, filepath.Base(p)))
		if err != nil {
			t.Fatal(err)
		}
		sizes[p] = fi.Size()
	}
	serve.waitFor("the logs it had written to after the failed reopen", func() bool {
		for p, n := range sizes {
			if fi, err := os.Stat(filepath.Join(old, filepath.Base(p))); err != nil || fi.Size() <= n {
				return false
			}
		}
		return true
	})
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	serve.signal(syscall.SIGUSR1)
	serve.waitFor("both logs written to once the directory is back", written(idpLog, proxyLog))

	n := traffic.Stop()
	if err := serve.stop(); err != nil {
		t.Fatalf("idp serve after SIGTERM: %v", err)
	}

	// generations reads path's five generations, oldest first: renamed by
	// the test, written on through the failed reopen, reopened at last.
	generations := func(path string) string {
		t.Helper()
		var all strings.Builder
		for gen := 1; gen <= renames+2; gen++ {
			name := filepath.Join(old, filepath.Base(path)+fmt.Sprint(".", gen))
			switch gen {
			case renames + 1:
				name = filepath.Join(old, filepath.Base(path))
			case renames + 2:
				name = path
			}
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) == 0 || b[len(b)-1] != '\n' {
				t.Errorf("generation %d of %s is not whole lines: it ends %q", gen, filepath.Base(path), b[max(0, len(b)-40):])
			}
			all.Write(b)
		}
		return all.String()
	}
	if got, want := generations(idpLog), stdout.String(); got != want {
		t.Errorf("the IdP's log generations hold %d lines, %d bytes; serve wrote %d lines, %d bytes",
			strings.Count(got, "\n"), len(got), strings.Count(want, "\n"), len(want))
	} else if az := idptest.AzSuccesses(got, "sim0001"); az != n {
		t.Errorf("%d of sim0001's AzSuccess records for %d token requests", az, n)
	}
	if token := idptest.TokenRecords(t, generations(proxyLog)); token != n {
		t.Errorf("%d token records in the proxy's log for %d token requests", token, n)
	}
}

// idp serve's stdout breaks while clients refresh through its proxy: its
// reader goes after the first line, as in `idp serve --log FILE | head -1`,
// or it is a full device. serve goes on as if nothing happened but for one
// warning on stderr: --log, the log graceguard reads, and --proxy-log hold
// a record of every token request, whole lines, and SIGTERM ends serve with
// status 0.
func TestIdpServeLogFileOutlivesStdout(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		// open returns the file serve's stdout is, and break, run once
		// serve logs, which breaks it if open did not, returning the
		// lines read before.
		open func(t *testing.T) (stdout *os.File, brk func() string)
	}{
		{"closed pipe", func(t *testing.T) (*os.File, func() string) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			return w, func() string {
				line, err := bufio.NewReader(r).ReadString('\n')
				if err != nil {
					t.Fatalf("idp serve's first line: %v", err)
				}
				r.Close()
				return line
			}
		}},
		{"full device", func(t *testing.T) (*os.File, func() string) {
			f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
			if errors.Is(err, os.ErrNotExist) {
				t.Skip("no /dev/full here")
			}
			if err != nil {
				t.Fatal(err)
			}
			return f, func() string { return "" }
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			idpLog, proxyLog := filepath.Join(dir, "openunison.log"), filepath.Join(dir, "ingress.log")
			stdout, brk := tt.open(t)
			serve := startIdpServeProcess(t, stdout, "--log "+idpLog+" --proxy-listen 127.0.0.1:0 --proxy-log "+proxyLog)
			// serve has its own copy now; ours would keep the pipe open.
			stdout.Close()

			traffic := serve.refresh()
			first := brk()
			broken := traffic.Requests()
			serve.waitFor("refreshes after stdout broke", func() bool { return traffic.Requests() > broken+30 })
			n := traffic.Stop()
			if err := serve.stop(); err != nil {
				t.Errorf("idp serve after SIGTERM: %v", err)
			}

			log, err := os.ReadFile(idpLog)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(log), first) || !strings.HasSuffix(string(log), "\n") {
				t.Errorf("--log does not begin with stdout's first line %q and end a line: it begins %q, ends %q",
					first, log[:min(len(log), 200)], log[max(0, len(log)-40):])
			}
			if az := idptest.AzSuccesses(string(log), "sim0001"); az != n {
				t.Errorf("--log holds %d of sim0001's AzSuccess records for %d token requests", az, n)
			}
			proxied, err := os.ReadFile(proxyLog)
			if err != nil {
				t.Fatal(err)
			}
			if token := idptest.TokenRecords(t, string(proxied)); token != n {
				t.Errorf("--proxy-log holds %d token records for %d token requests", token, n)
			}
			if said := strings.Count(serve.stderr.String(), "copy=stdout"); said != 1 {
				t.Errorf("stdout's failure said %d times on stderr, want once", said)
			}
		})
	}
}

// idpServeProcess is `graceguard idp serve` run as a process of its own
// (this test binary as the command), for what only a real process shows:
// signals, and what becomes of it when its stdout breaks.
type idpServeProcess struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr *testsync.Buffer
	ended  chan error
	exited bool
	issuer string
}

// startIdpServeProcess starts idp serve with args, its stdout going to
// stdout, and waits for the issuer it logs; the process is killed when the
// test ends without having stopped it.
func startIdpServeProcess(t *testing.T, stdout io.Writer, args string) *idpServeProcess {
	t.Helper()
	p := &idpServeProcess{t: t, cmd: exec.Command(os.Args[0]), stderr: &testsync.Buffer{}, ended: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), "GRACEGUARD_RUN_MAIN=1", "GRACEGUARD_ARGS=idp serve --addr 127.0.0.1:0 "+args)
	p.cmd.Stdout, p.cmd.Stderr = stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.ended <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if !p.exited {
			_ = p.cmd.Process.Kill()
			<-p.ended
		}
		if t.Failed() {
			t.Log(p.stderr.String())
		}
	})
	p.waitFor("the issuer in the log", func() bool {
		_, rest, ok := strings.Cut(p.stderr.String(), "issuer=")
		if ok && strings.Contains(rest, " ") {
			p.issuer = strings.Fields(rest)[0]
		}
		return p.issuer != ""
	})
	return p
}

// waitFor fails at once when serve has ended, not after testsync's
// patience.
func (p *idpServeProcess) waitFor(what string, cond func() bool) {
	p.t.Helper()
	testsync.WaitFor(p.t, what, func() bool {
		select {
		case err := <-p.ended:
			p.exited = true
			p.t.Fatalf("idp serve ended (%v) while waiting for %s", err, what)
		default:
		}
		return cond()
	})
}

func (p *idpServeProcess) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// refresh starts three clients refreshing as sim0001 through serve's
// issuer, naming their addresses in X-Forwarded-For as the proxy in front
// of serve trusts from loopback.
func (p *idpServeProcess) refresh() *idptest.Traffic {
	p.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p.t.Cleanup(cancel)
	client, err := idp.NewClient(ctx, p.issuer, idp.ClientOptions{Source: idp.SourceXFF})
	if err != nil {
		p.t.Fatal(err)
	}
	return idptest.Refresh(ctx, p.t, client, 3, "sim0001", idp.SimulatedPassword)
}

// stop ends serve with SIGTERM and returns how it exited.
func (p *idpServeProcess) stop() error {
	p.t.Helper()
	p.signal(syscall.SIGTERM)
	err := <-p.ended
	p.exited = true
	return err
}
