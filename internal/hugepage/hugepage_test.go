package hugepage

import "testing"

func TestDisabledBy(t *testing.T) {
	tests := []struct {
		godebug string
		want    bool
	}{
		{"", false},
		{"disablethp=1", true},
		{"disablethp=0", false},
		{"madvdontneed=1,disablethp=1", true},
		{"disablethp=1, gctrace=1", true},
		{"gctrace=1, disablethp=1", false},   // the runtime reads the key " disablethp"
		{"disablethp=1,disablethp=0", false}, // the runtime's rule: the last wins
		{"disablethp=0,disablethp=1", true},
		{"disablethp=1,disablethp=x", true}, // not an integer: ignored
		{"disablethp=2", true},              // any non-zero integer
		{"disablethp=+1", true},
		{"disablethp=01", true},
		{"disablethp=true", false},
		{"xdisablethp=1", false},
		{"disablethp", false},
	}
	for _, tt := range tests {
		if got := disabledBy(tt.godebug); got != tt.want {
			t.Errorf("disabledBy(%q) = %v, want %v", tt.godebug, got, tt.want)
		}
	}
}
