package sinks

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/golden"
)

func TestFileAppendsJSONLines(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "alerts", "alerts.jsonl")
	os.MkdirAll(filepath.Dir(path), 0o755)
	os.WriteFile(path, []byte(`{"earlier":"line"}`+"\n"), 0o644)
	f, err := newFile(FileOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	group := replayGroup()
	if err := f.Send(context.Background(), group); err != nil {
		t.Fatal(err)
	}
	f.Close(context.Background())
	lines := readLines(t, path)
	if len(lines) != 3 || lines[0] != `{"earlier":"line"}` {
		t.Fatalf("lines: %q", lines)
	}
	for i, l := range lines[1:] {
		var a alert.Alert
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatal(err)
		}
		want := group[i]
		want.Description = "" // not in the JSON
		if a.ID != want.ID || !a.Time.Equal(want.Time) || a.Severity != want.Severity || *a.SpeedKmh != *want.SpeedKmh {
			t.Errorf("line %d: %+v", i, a)
		}
	}
	if strings.Contains(lines[1], `\u003c`) {
		t.Error("HTML escaping makes the lines harder to grep")
	}
}

func TestFileFollowsRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "alerts.jsonl")
	f, err := newFile(FileOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close(context.Background())
	f.Send(context.Background(), []alert.Alert{plain("before")})
	if err := os.Rename(path, path+".1"); err != nil { // logrotate
		t.Fatal(err)
	}
	f.Send(context.Background(), []alert.Alert{plain("after")})
	if old, cur := readLines(t, path+".1"), readLines(t, path); len(old) != 1 || len(cur) != 1 || !strings.Contains(cur[0], `"id":"after"`) {
		t.Errorf("rotated %q, current %q", old, cur)
	}
}

// TestECSGolden pins the Elastic Common Schema form.
func TestECSGolden(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ecs.jsonl")
	f, err := newFile(FileOptions{Path: path, Format: FileECS})
	if err != nil {
		t.Fatal(err)
	}
	noGeo := plain("5e6f7a8b9c0d1e2f3a4b")
	noGeo.Geo = &alert.Geo{ASN: 64512, Org: "Only an ASN database"}
	if err := f.Send(context.Background(), append(replayGroup(), noGeo)); err != nil {
		t.Fatal(err)
	}
	f.Close(context.Background())
	var out strings.Builder
	for _, l := range readLines(t, path) {
		var v any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		out.WriteString(indentJSON(t, v))
	}
	golden.Check(t, "testdata/golden/ecs.json", []byte(out.String()))

	var doc map[string]any
	json.Unmarshal([]byte(readLines(t, path)[0]), &doc)
	for _, key := range []string{"@timestamp", "event", "source", "user", "rule"} {
		if doc[key] == nil {
			t.Errorf("ECS document lacks %s", key)
		}
	}
	src := doc["source"].(map[string]any)
	if src["ip"] != "192.0.2.66" || src["geo"].(map[string]any)["city_name"] != "Amsterdam" ||
		doc["user"].(map[string]any)["name"] != "uid=jjackson,ou=shadow,o=Tremolo" ||
		doc["rule"].(map[string]any)["name"] != "reuse-geo-jump" || doc["event"].(map[string]any)["kind"] != "alert" {
		t.Errorf("ECS names: %v", doc)
	}
}

func TestFileOptionsChecked(t *testing.T) {
	t.Parallel()
	if _, err := newFile(FileOptions{}); err == nil {
		t.Error("no path accepted")
	}
	if _, err := newFile(FileOptions{Path: filepath.Join(t.TempDir(), "x"), Format: "xml"}); err == nil || !strings.Contains(err.Error(), "want json or ecs") {
		t.Errorf("format xml: %v", err)
	}
}
