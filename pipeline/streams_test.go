package pipeline

import (
	"slices"
	"testing"
)

// Streams are found by identity and by path, in the order first read,
// until dropped: a rotated file and the new one share a path, a file's
// generations across a truncation share an identity.
func TestStreamNames(t *testing.T) {
	t.Parallel()
	old := &stream{key: "a#1", path: "/l/a.log", sourceID: "1:10"}
	cur := &stream{key: "a#2", path: "/l/a.log", sourceID: "1:11"}
	trunc := &stream{key: "a#3", path: "/l/a.log", sourceID: "1:11"}
	stdin := &stream{key: "-", path: "-", sourceID: "-"}
	var n streamNames
	for _, s := range []*stream{old, cur, trunc, stdin} {
		n.add(s)
	}
	for _, step := range []struct {
		drop *stream
		want map[string][]*stream
	}{
		{nil, map[string][]*stream{"/l/a.log": {old, cur, trunc}, "1:10": {old}, "1:11": {cur, trunc}, "-": {stdin}, "1:12": nil}},
		{old, map[string][]*stream{"/l/a.log": {cur, trunc}, "1:10": nil, "1:11": {cur, trunc}}},
		{cur, map[string][]*stream{"/l/a.log": {trunc}, "1:11": {trunc}}},
		{stdin, map[string][]*stream{"-": nil}},
		{trunc, map[string][]*stream{"/l/a.log": nil, "1:11": nil}},
	} {
		if step.drop != nil {
			n.drop(step.drop)
		}
		for name, want := range step.want {
			if got := n.of(name); !slices.Equal(got, want) {
				t.Errorf("after dropping %v: of(%q) = %v, want %v", step.drop, name, got, want)
			}
		}
	}
	if len(n) != 0 {
		t.Errorf("%d names left after every stream was dropped", len(n))
	}
}
