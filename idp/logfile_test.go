package idp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/idp"
	"github.com/graceguard/graceguard/internal/idptest"
	"github.com/graceguard/graceguard/internal/testsync"
)

// openLog opens a LogFile the test closes.
func openLog(t *testing.T, path string) *idp.LogFile {
	t.Helper()
	f, err := idp.OpenLogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// size is path's size, 0 when it is missing.
func size(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readFile is path's content, failing the test when it cannot be read.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The IdP and its proxy write their logs through LogFiles while clients
// refresh tokens without pause; both logs are renamed away and reopened
// three times. The generations, oldest first, hold exactly what was
// logged, in order: what a tee of each log saw, byte for byte, each
// generation whole lines, one record per request the clients made.
func TestLogFileRenameRotationUnderTraffic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	idpPath, proxyPath := filepath.Join(dir, "openunison.log"), filepath.Join(dir, "ingress.log")
	idpFile, proxyFile := openLog(t, idpPath), openLog(t, proxyPath)
	idpTee, proxyTee := &testsync.Buffer{}, &testsync.Buffer{}

	idpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxyLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + proxyLn.Addr().String() + idp.DefaultIssuerPath
	p, err := idp.New(idp.Config{Issuer: issuer, Users: idptest.FastUsers(t), Log: io.MultiWriter(idpTee, idpFile), Diag: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := idp.NewProxy(idp.ProxyConfig{Upstream: "http://" + idpLn.Addr().String(), Log: io.MultiWriter(proxyTee, proxyFile), Diag: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan struct{}, 2)
	go func() { _ = p.Serve(ctx, idpLn); served <- struct{}{} }()
	go func() { _ = proxy.Serve(ctx, proxyLn); served <- struct{}{} }()
	client, err := idp.NewClient(ctx, issuer, idp.ClientOptions{Source: idp.SourceXFF, Timeout: loginTimeout})
	if err != nil {
		t.Fatal(err)
	}

	traffic := idptest.Refresh(ctx, t, client, 4, "mmosley", idp.DemoPassword)

	const rotations = 3
	for gen := 1; gen <= rotations; gen++ {
		// Each generation gets records of its own before it is rotated.
		testsync.WaitFor(t, "both logs written to", func() bool { return size(idpPath) > 0 && size(proxyPath) > 0 })
		for _, f := range []*idp.LogFile{idpFile, proxyFile} {
			if err := os.Rename(f.Path(), fmt.Sprintf("%s.%d", f.Path(), gen)); err != nil {
				t.Fatal(err)
			}
			if err := f.Reopen(); err != nil {
				t.Fatal(err)
			}
		}
	}
	testsync.WaitFor(t, "both reopened logs written to", func() bool { return size(idpPath) > 0 && size(proxyPath) > 0 })
	n := traffic.Stop()
	cancel() // the servers finish every request, and its record, before Serve returns
	<-served
	<-served

	generations := func(path string) string {
		t.Helper()
		var all strings.Builder
		for gen := 1; gen <= rotations+1; gen++ {
			name := fmt.Sprintf("%s.%d", path, gen)
			if gen > rotations {
				name = path
			}
			s := readFile(t, name)
			if s == "" || !strings.HasSuffix(s, "\n") {
				t.Errorf("%s is not whole lines: it ends %q", filepath.Base(name), s[max(0, len(s)-40):])
			}
			all.WriteString(s)
		}
		return all.String()
	}
	if got := generations(idpPath); got != idpTee.String() {
		t.Errorf("the IdP's log generations hold %d bytes, %d lines; it logged %d bytes, %d lines",
			len(got), strings.Count(got, "\n"), len(idpTee.String()), strings.Count(idpTee.String(), "\n"))
	} else if az := idptest.AzSuccesses(got, "mmosley"); az != n {
		t.Errorf("%d of mmosley's AzSuccess records for %d token requests", az, n)
	}
	got := generations(proxyPath)
	if got != proxyTee.String() {
		t.Errorf("the proxy's log generations hold %d bytes, %d lines; it logged %d bytes, %d lines",
			len(got), strings.Count(got, "\n"), len(proxyTee.String()), strings.Count(proxyTee.String(), "\n"))
	}
	if token := idptest.TokenRecords(t, got); token != n {
		t.Errorf("%d token records in the proxy's log for %d token requests", token, n)
	}
}

// A reopen that fails keeps the file it had: what is written meanwhile
// goes on into it, and the next reopen, once the path can be opened again,
// moves the writes to the path.
func TestLogFileReopenFails(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		root  bool // whether the failure holds for root, who ignores permissions
		spoil func(t *testing.T, dir, path string)
		mend  func(t *testing.T, dir, path string)
	}{
		{
			name: "directory gone", root: true,
			spoil: func(t *testing.T, dir, _ string) { mustDo(t, os.Rename(dir, dir+".old")) },
			mend:  func(t *testing.T, dir, _ string) { mustDo(t, os.Mkdir(dir, 0o755)) },
		},
		{
			name: "a directory at the path", root: true,
			spoil: func(t *testing.T, _, path string) {
				mustDo(t, os.Rename(path, path+".1"))
				mustDo(t, os.Mkdir(path, 0o755))
			},
			mend: func(t *testing.T, _, path string) { mustDo(t, os.Remove(path)) },
		},
		{
			name: "permission",
			spoil: func(t *testing.T, dir, path string) {
				mustDo(t, os.Rename(path, path+".1"))
				mustDo(t, os.Chmod(dir, 0o555))
			},
			mend: func(t *testing.T, dir, _ string) { mustDo(t, os.Chmod(dir, 0o755)) },
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if !tt.root && os.Geteuid() == 0 {
				t.Skip("root writes where permissions forbid it")
			}
			dir := filepath.Join(t.TempDir(), "logs")
			mustDo(t, os.Mkdir(dir, 0o755))
			t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
			path := filepath.Join(dir, "ingress.log")
			f := openLog(t, path)
			write := func(s string) {
				t.Helper()
				if _, err := io.WriteString(f, s); err != nil {
					t.Fatal(err)
				}
			}
			// The file it had, wherever it now is.
			old, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer old.Close()

			write("before\n")
			tt.spoil(t, dir, path)
			err = f.Reopen()
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("Reopen: %v, want an error naming %s", err, path)
			}
			write("meanwhile\n")
			if err := f.Reopen(); err == nil {
				t.Fatal("a second Reopen, nothing mended: no error")
			}
			write("still\n")
			tt.mend(t, dir, path)
			if err := f.Reopen(); err != nil {
				t.Fatalf("Reopen once mended: %v", err)
			}
			write("after\n")

			had, err := io.ReadAll(old)
			if err != nil {
				t.Fatal(err)
			}
			if string(had) != "before\nmeanwhile\nstill\n" {
				t.Errorf("the file it had holds %q", had)
			}
			if got := readFile(t, path); got != "after\n" {
				t.Errorf("the file reopened at the path holds %q", got)
			}
		})
	}
}

// A LogFile closed is not brought back by a Reopen.
func TestLogFileReopenAfterClose(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "openunison.log")
	f, err := idp.OpenLogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mustDo(t, f.Close())
	if err := f.Reopen(); err == nil {
		t.Fatal("Reopen after Close: no error")
	}
	if _, err := f.Write([]byte("late\n")); err == nil {
		t.Error("Write after Close and Reopen: no error")
	}
}

// A copy whose reader has gone (a closed pipe: EPIPE) is said once and
// written no more, while the file gets every record and Write reports the
// file's success.
func TestLogFileWithCopyOutlivesCopy(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "openunison.log")
	r, w, err := os.Pipe()
	mustDo(t, err)
	defer r.Close()
	defer w.Close()
	diag := &testsync.Buffer{}
	log := openLog(t, path).WithCopy(w, "stdout", slog.New(slog.NewTextHandler(diag, nil)))
	write := func(s string) {
		t.Helper()
		if n, err := io.WriteString(log, s); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v: want the file's whole success", s, n, err)
		}
	}

	write("one\n")
	got := make([]byte, 4)
	if _, err := io.ReadFull(r, got); err != nil || string(got) != "one\n" {
		t.Fatalf("the copy read %q, %v", got, err)
	}
	mustDo(t, r.Close())
	write("two\n")
	write("three\n")
	if got := readFile(t, path); got != "one\ntwo\nthree\n" {
		t.Errorf("the file holds %q", got)
	}
	if said := diag.String(); strings.Count(said, "copy=stdout") != 1 || !strings.Contains(said, "file="+path) {
		t.Errorf("the copy's failure said as %q; want once, naming the file", said)
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
