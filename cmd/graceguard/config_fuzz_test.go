package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A config file is untrusted bytes: whatever it holds, reading it and
// applying it to watch's flags never panics, and a failure names the file.
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
		if err != nil && !strings.Contains(err.Error(), path) && !strings.Contains(err.Error(), "GRACEGUARD_") {
			t.Errorf("error does not name the file: %v", err)
		}
	})
}
