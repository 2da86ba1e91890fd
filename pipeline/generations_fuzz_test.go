package pipeline

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/source"
)

// Whatever the name, generationOf names a log that the name extends by a
// generation's suffix, in the same directory, and whose own name is not
// empty; and the name is that log's generation by watch's rule too.
func FuzzGenerationOf(f *testing.F) {
	for _, s := range []string{"openunison.log.1", "openunison.log.2.gz", "a/openunison.log-20261123.gz",
		"0.log.20261123-101500", "openunison-0", ".1", "a/.1", "x.20261123-101500", "x.log.123456789", "a\\b.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		log, ok := generationOf(name)
		if !ok {
			if log != "" {
				t.Fatalf("generationOf(%q) is no generation but names %q", name, log)
			}
			return
		}
		base := filepath.Base(log)
		switch {
		case !strings.HasPrefix(name, log) || len(name) <= len(log):
			t.Fatalf("generationOf(%q) = %q: not a prefix the name extends", name, log)
		case log == "" || strings.HasSuffix(log, string(filepath.Separator)) || base == "." || base == string(filepath.Separator):
			t.Fatalf("generationOf(%q) = %q: no log's name", name, log)
		case strings.ContainsRune(name[len(log):], filepath.Separator):
			t.Fatalf("generationOf(%q) = %q: the suffix crosses a directory", name, log)
		case !source.IsGenerationOf(filepath.Clean(name), filepath.Clean(log)):
			t.Fatalf("generationOf(%q) = %q, which watch's rule does not take for its log", name, log)
		}
	})
}
