package pipeline

import (
	"strings"
	"testing"

	"github.com/graceguard/graceguard/internal/golden"
)

// tieReplicas are two replicas' logs where a refresh (replica a, from the
// client's new address) and the replay of the token it rotated (replica b)
// share a millisecond: the replay must be judged against that refresh, the
// one that made its token stale, whichever file is named first.
func tieReplicas() (a, b string) {
	a = refreshLine("10:00:00,000", "203.0.113.1", "fa") +
		refreshLine("10:00:05,000", "198.51.100.40", "fc") +
		refreshLine("10:00:09,000", "198.51.100.40", "fd")
	b = strings.ReplaceAll(reuseLines("10:00:05,000", "192.0.2.99", "fb"), "task-2", "task-7") +
		strings.ReplaceAll(refreshLine("10:00:09,500", "203.0.113.9", "fe"), "task-2", "task-7")
	return a, b
}

func TestScanOrderOfArgumentsDoesNotMatter(t *testing.T) {
	a, b := tieReplicas()
	run := func(inputs ...Input) string {
		_, alerts, err := scan(t, inputs...)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(alerts, "\n") + "\n"
	}
	ab := run(Input{Name: "a.log", R: strings.NewReader(a)}, Input{Name: "b.log", R: strings.NewReader(b)})
	ba := run(Input{Name: "b.log", R: strings.NewReader(b)}, Input{Name: "a.log", R: strings.NewReader(a)})
	if ab != ba {
		t.Fatalf("scan a b and scan b a differ:\n--- a b\n%s--- b a\n%s", ab, ba)
	}
	if !strings.Contains(ab, "192.0.2.99 198.51.100.40") {
		t.Errorf("the replay must be judged against the refresh of the same millisecond (previous address 198.51.100.40):\n%s", ab)
	}
	golden.Check(t, "testdata/scan-tie.golden", []byte(ab))
}
