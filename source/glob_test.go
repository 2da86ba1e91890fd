package source

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// globTree makes the tree the glob tests match against: a pod-log layout
// (directories that a pattern's directory part matches), rotated
// generations, a symbolic link to a directory, an unreadable-looking
// name with a bracket, and a plain file where a directory is expected.
func globTree(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	for _, name := range []string{
		"openunison.log", "openunison.log.1", "openunison.log.2.gz", "other.log", "[x].log",
		"pods/ns_ou-1_a/openunison/0.log", "pods/ns_ou-1_a/openunison/1.log",
		"pods/ns_ou-2_b/openunison/0.log", "pods/ns_web_c/nginx/0.log",
		"deep/a/b/c/d.log",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "pods"), filepath.Join(root, "linked")); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestGlobIsFilepathGlob(t *testing.T) {
	t.Parallel()
	root := globTree(t)
	for _, tc := range []struct {
		pattern string
		want    []string // relative to root; nil: none
	}{
		{"*.log", []string{"[x].log", "openunison.log", "other.log"}},
		{"openunison.log*", []string{"openunison.log", "openunison.log.1", "openunison.log.2.gz"}},
		{"openunison.log", []string{"openunison.log"}},
		{"missing.log", nil},
		{"pods/*/openunison/*.log", []string{"pods/ns_ou-1_a/openunison/0.log", "pods/ns_ou-1_a/openunison/1.log", "pods/ns_ou-2_b/openunison/0.log"}},
		{"pods/ns_ou-?_*/*/0.log", []string{"pods/ns_ou-1_a/openunison/0.log", "pods/ns_ou-2_b/openunison/0.log"}},
		{"linked/*/nginx/*.log", []string{"linked/ns_web_c/nginx/0.log"}},
		{"deep/*/*/*/*.log", []string{"deep/a/b/c/d.log"}},
		{"openunison.log/*", nil}, // a file where a directory is expected
		{"nodir/*.log", nil},
		{`\[x\].log`, []string{"[x].log"}},
		{"[o]ther.log", []string{"other.log"}},
		{"[", nil}, // a bad pattern: an error, below
		{"pods/[/*.log", nil},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			pattern := root + string(filepath.Separator) + tc.pattern
			got, err := glob(pattern)
			want, wantErr := filepath.Glob(pattern)
			if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
				t.Fatalf("glob(%q) error %v, filepath.Glob %v", tc.pattern, err, wantErr)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("glob(%q) = %q, filepath.Glob = %q", tc.pattern, got, want)
			}
			var rel []string
			for _, g := range got {
				rel = append(rel, strings.TrimPrefix(g, root+string(filepath.Separator)))
			}
			if !slices.Equal(rel, tc.want) {
				t.Fatalf("glob(%q) = %q, want %q", tc.pattern, rel, tc.want)
			}
		})
	}
}

// A relative pattern, an empty directory part and the root directory take
// filepath.Glob's paths through cleanGlobPath.
func TestGlobRelativeAndRoot(t *testing.T) {
	root := globTree(t)
	t.Chdir(root)
	for _, pattern := range []string{"*.log", "pods/*/openunison/0.log", "/", "/*", "./*.log", "*"} {
		got, err := glob(pattern)
		want, wantErr := filepath.Glob(pattern)
		if err != nil || wantErr != nil || !slices.Equal(got, want) {
			t.Errorf("glob(%q) = %q, %v; filepath.Glob = %q, %v", pattern, got, err, want, wantErr)
		}
	}
}

// FuzzGlob holds glob to filepath.Glob on any pattern under a fixed tree:
// the same matches in the same order, the same error. Patterns are what a
// user writes on the command line or in a config file.
func FuzzGlob(f *testing.F) {
	for _, seed := range []string{
		"*.log", "pods/*/openunison/*.log", "[", `\`, "a/[b-", "**/*", "*/*/*/*/*.log",
		"openunison.log.[0-9]*", "../*", "linked/*/*/*", "[^a]*", `\*`, "deep/*/../*",
	} {
		f.Add(seed)
	}
	root := globTree(f)
	f.Fuzz(func(t *testing.T, pattern string) {
		if strings.Count(pattern, "/") > 64 {
			t.Skip("deep patterns only take longer; maxGlobDepth bounds them")
		}
		// Out of the test's own temporary directory, the two reads are of
		// a directory other processes change between them (the system's
		// temporary directory).
		if c := path.Clean(pattern); c == "../.." || strings.HasPrefix(c, "../../") {
			t.Skip("a pattern out of the fixed tree")
		}
		full := root + string(filepath.Separator) + pattern
		got, err := glob(full)
		want, wantErr := filepath.Glob(full)
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("glob(%q) error %v, filepath.Glob %v", pattern, err, wantErr)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("glob(%q) = %q, filepath.Glob = %q", pattern, got, want)
		}
	})
}
