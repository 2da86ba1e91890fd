package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A config file is untrusted bytes: whatever it holds, reading it and
// applying it to watch's flags never panics, and a failure names the file,
// line and column.
func FuzzConfigFile(f *testing.F) {
	f.Add("format: json\nsettle: 3s\nrules: [a.yaml, b.yaml]\n")
	f.Add("state: redis://127.0.0.1:6379/0\nkube-selector: app=x\nsinks:\n  - type: file\n    path: x\n")
	f.Add("- not a mapping\n")
	f.Add("settle: [1, 2]\nunknown: 1\n")
	f.Add("format: {a: b}\n\t bad")
	f.Fuzz(func(t *testing.T, data string) {
		path := filepath.Join(t.TempDir(), "graceguard.yaml")
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := newWatchCmd(streams{}, nil)
		err := applySettings(cmd, &configFile{path: path, data: []byte(data)}, settingOrigins{})
		if err == nil || strings.Contains(err.Error(), "GRACEGUARD_") {
			return
		}
		// FILE:LINE:COLUMN of a place in the file (or just past its end: a
		// document cut short); YAML ends a line at a lone CR too.
		_, place, ok := strings.Cut(err.Error(), path+":")
		var line, col int
		if ok {
			_, serr := fmt.Sscanf(place, "%d:%d:", &line, &col)
			ok = serr == nil && line >= 1 && col >= 1 && line <= strings.Count(data, "\n")+strings.Count(data, "\r")+2
		}
		if !ok {
			t.Errorf("error does not name its place in the file (FILE:LINE:COLUMN): %v", err)
		}
	})
}
