package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeConfig writes text as a config file in a test's own directory.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "graceguard.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// One config file (or GRACEGUARD_CONFIG) serves every command, as the
// README's graceguard.yaml does. proxy-json-keys is read by the commands
// that read logs; the others must let it by as they let watch's state-dir
// by, with a note. It was refused: "unknown setting "proxy-json-keys"
// (settings are flag names: )", so `graceguard version` or `rules test`
// stopped with exit 2 on the deployment's own file.
func TestProxyJSONKeysLetByCommandsThatReadNoLogs(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, "proxy-json-keys: client=realIP,time=ts,path=req_path\n")
	for _, args := range [][]string{
		{"version"},
		{"rules", "test"},
		{"geo", "lookup", "--geoip-city", filepath.Join("..", "..", "testdata", "geoip", "graceguard-test-city.mmdb"), "192.0.2.66"},
		{"completion", "bash"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			_, stderr, code := run(t, nil, append(args, "--config", cfg)...)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q; want 0", code, stderr)
			}
			if want := "ignores the settings of other commands: proxy-json-keys"; !strings.Contains(stderr, want) {
				t.Errorf("stderr %q lacks %q", stderr, want)
			}
		})
	}
}

// An unknown key is answered with what it likely meant, also when that is
// a setting of another command sharing the file: scan was told "settings
// are flag names: color, format, …" for stat_dir, a list without state_dir,
// and a command with no settings of its own got an empty list.
func TestUnknownSettingHints(t *testing.T) {
	t.Parallel()
	log := filepath.Join("..", "..", "testdata", "openunison", "sample.log")
	tests := []struct {
		name, config string
		args         []string
		want         string
	}{
		{name: "another command's setting misspelt", config: "stat_dir: x\n", args: []string{"scan", log},
			want: `:1:1: unknown setting "stat_dir" (did you mean state_dir, a setting of watch, which scan ignores?)`},
		{name: "a command with no settings", config: "frobnicate: 1\n", args: []string{"version"},
			want: `:1:1: unknown setting "frobnicate" (version takes no settings of its own)`},
		{name: "own setting still first", config: "formt: json\n", args: []string{"scan", log},
			want: `:1:1: unknown setting "formt" (did you mean format?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := writeConfig(t, tt.config)
			args := append([]string{tt.args[0], "--config", cfg}, tt.args[1:]...)
			_, stderr, code := run(t, nil, args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, exitUsage, tt.want)
			}
		})
	}
}

// A bad FIELD=KEY in proxy-json-keys' list form is placed on its item: it
// was placed on the first item, with a column counted in the items joined
// by commas ("2:3: … column 15: unknown field").
func TestProxyJSONKeysListErrorPlacedOnItsItem(t *testing.T) {
	t.Parallel()
	log := filepath.Join("..", "..", "testdata", "openunison", "sample.log")
	tests := []struct {
		name, config, want string
	}{
		{name: "plain item", config: "proxy-json-keys:\n  - client=realIP\n  - bogus=x\n",
			want: `graceguard.yaml:3:5: proxy-json-keys: unknown field "bogus"`},
		{name: "second pair of an item", config: "proxy-json-keys:\n  - client=realIP\n  - time=ts,bogus=x\n",
			want: `graceguard.yaml:3:13: proxy-json-keys: unknown field "bogus"`},
		{name: "quoted item", config: "proxy-json-keys:\n  - client=realIP\n  - \"bogus=x\"\n",
			want: `graceguard.yaml:3:5: proxy-json-keys: unknown field "bogus"`},
		{name: "flow list", config: "proxy-json-keys: [client=realIP, agent=realIP]\n",
			want: `graceguard.yaml:1:34: proxy-json-keys: key "realIP" is given to both client and agent`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := writeConfig(t, tt.config)
			_, stderr, code := run(t, nil, "scan", "--config", cfg, "-q", log)
			if code != exitUsage || !strings.Contains(stderr, tt.want) || strings.Contains(stderr, "column ") {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, exitUsage, tt.want)
			}
		})
	}
}
