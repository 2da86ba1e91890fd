package source

import (
	"os"
	"path/filepath"
	"testing"
)

// A generation's compression is told by its name's extension whatever
// separates it from the log's name: app.log.gz (gzip -k app.log, or a
// rotation without a number) was listed as a plain generation, its gzip
// bytes read as lines ("reading a generation rotated while graceguard was
// down path=app.log.gz"), and app.log.tmp, a compression under way, as
// the newest generation.
func TestGenerationsTellCompressedByExtension(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	want := map[string]bool{ // listed: compressed
		"app.log.1":            false,
		"app.log.1.gz":         true,
		"app.log-20261123.gz":  true,
		"app.log.gz":           true,
		"app.log.bz2":          true,
		"app.log.zst":          true,
		"app.log_20261123.zst": true,
	}
	for name := range want {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Being compressed: no generation.
	if err := os.WriteFile(filepath.Join(dir, "app.log.tmp"), []byte("\x1f\x8b"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, g := range generations(path) {
		got[filepath.Base(g.name)] = g.compressed
	}
	for name, compressed := range want {
		if c, ok := got[name]; !ok || c != compressed {
			t.Errorf("%s: listed %v, compressed %v; want listed, compressed %v", name, ok, c, compressed)
		}
	}
	if _, ok := got["app.log.tmp"]; ok {
		t.Errorf("app.log.tmp, a compression under way, listed as a generation")
	}
}
