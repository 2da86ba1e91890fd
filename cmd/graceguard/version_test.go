package main

import (
	"runtime/debug"
	"testing"
)

func TestVersionOf(t *testing.T) {
	t.Parallel()
	const rev = "4533655d0c1e7f3f6b9a0e1d2c3b4a5968778695"
	vcs := func(modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	tests := []struct {
		name    string
		stamped string
		info    *debug.BuildInfo
		want    string
	}{
		{"no build info", "", nil, "(devel)"},
		{"go run", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "(devel)"},
		{"go install @version", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.3.0"}}, "v0.3.0"},
		{"go build in a clone: the pseudo-version carries the commit", "",
			&debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261203035742-4533655d0c1e"}, Settings: vcs("false")},
			"v0.0.0-20261203035742-4533655d0c1e"},
		{"go build of a dirty tree", "",
			&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("true")}, "(devel) commit 4533655d0c1e+dirty"},
		{"stamped by the image build", "v1.2.3",
			&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("false")}, "v1.2.3 commit 4533655d0c1e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionOf(tt.stamped, tt.info); got != tt.want {
				t.Errorf("versionOf = %q, want %q", got, tt.want)
			}
		})
	}
}
