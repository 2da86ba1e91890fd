package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"
)

func gogc() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// While any watcher is idle the collector runs at idleGCPercent; the
// user's GOGC is back once none is, and a GOGC lower than ours stays.
func TestReleaseWhenIdleGOGC(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	steps := []struct {
		idle bool
		want int
	}{
		{true, idleGCPercent},  // first watcher idle
		{true, idleGCPercent},  // a second one
		{false, idleGCPercent}, // one busy again: the other is still idle
		{false, 100},           // none idle
	}
	for i, s := range steps {
		releaseWhenIdle(s.idle)
		if got := gogc(); got != s.want {
			t.Fatalf("step %d (idle %v): GOGC %d, want %d", i, s.idle, got, s.want)
		}
	}
	debug.SetGCPercent(10)
	releaseWhenIdle(true)
	if got := gogc(); got != 10 {
		t.Errorf("idle with GOGC=10: GOGC %d, want the user's 10", got)
	}
	releaseWhenIdle(false)
	if got := gogc(); got != 10 {
		t.Errorf("busy again: GOGC %d, want 10", got)
	}
}

// Process-wide runtime settings are the command's: no other package's
// production code calls debug.SetGCPercent, SetMemoryLimit or FreeOSMemory
// (or the other process-wide setters). SetPanicOnFault is not one: it is
// the calling goroutine's, which is how pipeline's block workers read a
// mapped file (pipeline/mapped.go).
func TestRuntimeKnobsOnlyInCmd(t *testing.T) {
	setters := map[string]bool{"SetGCPercent": true, "SetMemoryLimit": true, "FreeOSMemory": true,
		"SetMaxStack": true, "SetMaxThreads": true, "SetTraceback": true}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		if filepath.Dir(rel) == filepath.Join("cmd", "graceguard") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, src, 0)
		if err != nil {
			return err
		}
		checked++
		name := ""
		for _, im := range f.Imports {
			if p, _ := strconv.Unquote(im.Path.Value); p == "runtime/debug" {
				name = "debug"
				if im.Name != nil {
					name = im.Name.Name
				}
			}
		}
		if name == "" {
			return nil
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == name && setters[sel.Sel.Name] {
				t.Errorf("%s calls debug.%s: runtime knobs are set by cmd/graceguard only", rel, sel.Sel.Name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked %d files outside cmd/graceguard: the walk missed the repo", checked)
	}
}

// The release waits for its delay of quiet: data coming first cancels it
// (a log writing every few seconds must not pay a forced collection at
// each line), idle said again does not add a release, and a quiet longer
// than the delay releases.
func TestDelayedReleaseWaitsForQuiet(t *testing.T) {
	calls := 0
	d := delayedRelease{after: time.Hour, release: func() { calls++ }}
	for range 5 {
		d.schedule()
		d.cancel()
	}
	if d.timer != nil || calls != 0 {
		t.Fatalf("after busy came back each time: timer pending %v, %d releases; want none", d.timer != nil, calls)
	}
	d.schedule()
	first := d.timer
	d.schedule()
	if d.timer != first {
		t.Fatal("idle said twice started a second release")
	}
	d.cancel()

	released := make(chan struct{}, 2)
	quick := delayedRelease{after: time.Millisecond, release: func() { released <- struct{}{} }}
	quick.schedule()
	select {
	case <-released:
	case <-time.After(10 * time.Second):
		t.Fatal("no release after a quiet longer than the delay")
	}
}
