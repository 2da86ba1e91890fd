package kube

import (
	"encoding/json"
	"testing"
)

const podObject = `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"ou-a","namespace":"openunison","uid":"u1","resourceVersion":"42"},
"status":{"containerStatuses":[{"name":"openunison-orchestra","containerID":"containerd://b","state":{"running":{"startedAt":"2026-11-23T10:00:00Z"}},
"lastState":{"terminated":{"containerID":"containerd://a","exitCode":1}}}]}}`

func TestDecodeEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, line string
		typ, rv    string
		code       int
		bad        bool
	}{
		{name: "added", line: `{"type":"ADDED","object":` + podObject + `}`, typ: "ADDED", rv: "42"},
		{name: "deleted", line: `{"type":"DELETED","object":` + podObject + `}`, typ: "DELETED", rv: "42"},
		{name: "bookmark", line: `{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"99"}}}`, typ: "BOOKMARK", rv: "99"},
		{name: "error", line: `{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old resource version"}}`, typ: "ERROR", code: 410},
		{name: "unknown type", line: `{"type":"SOMETHING","object":{}}`, bad: true},
		{name: "no resourceVersion", line: `{"type":"ADDED","object":{"metadata":{"name":"x"}}}`, bad: true},
		{name: "not json", line: `{"type":"ADDED",`, bad: true},
		{name: "object of the wrong shape", line: `{"type":"MODIFIED","object":[1,2]}`, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := decodeEvent([]byte(tt.line))
			if tt.bad {
				if err == nil {
					t.Errorf("decoded %+v", ev)
				}
				return
			}
			if err != nil || ev.Type != tt.typ || ev.Pod.Metadata.ResourceVersion != tt.rv || ev.Status.Code != tt.code {
				t.Errorf("%+v %v", ev, err)
			}
		})
	}
}

func TestLocate(t *testing.T) {
	t.Parallel()
	status := func(js string) pod {
		var p pod
		if err := json.Unmarshal([]byte(`{"status":{"containerStatuses":[`+js+`]}}`), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const c = "openunison-orchestra"
	running := status(`{"name":"openunison-orchestra","containerID":"b","state":{"running":{}},"lastState":{"terminated":{"containerID":"a"}}}`)
	stopped := status(`{"name":"openunison-orchestra","containerID":"b","state":{"terminated":{"containerID":"b"}},"lastState":{"terminated":{"containerID":"a"}}}`)
	crashLoop := status(`{"name":"openunison-orchestra","containerID":"b","state":{"waiting":{"reason":"CrashLoopBackOff"}},"lastState":{"terminated":{"containerID":"b"}}}`)
	tests := []struct {
		name string
		p    pod
		id   string
		want logMode
	}{
		{"running", running, "b", modeFollow},
		{"the one before", running, "a", modePrevious},
		{"unknown", running, "z", modeGone},
		{"stopped", stopped, "b", modeCurrent},
		{"waiting to restart", crashLoop, "b", modeCurrent},
		{"another container", running, "b", modeGone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := c
			if tt.name == "another container" {
				name = "sidecar"
			}
			if got := locate(tt.p, name, tt.id); got != tt.want {
				t.Errorf("locate %s: %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"type":"ADDED","object":` + podObject + `}`))
	f.Add([]byte(`{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"1"}}}`))
	f.Add([]byte(`{"type":"ERROR","object":{"code":410}}`))
	f.Add([]byte(`{"type":"MODIFIED","object":{"metadata":{"resourceVersion":"1"},"status":{"containerStatuses":[{"state":{"running":null}}]}}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		ev, err := decodeEvent(line)
		if err != nil {
			return
		}
		if ev.Type != "ERROR" && ev.Pod.Metadata.ResourceVersion == "" {
			t.Fatalf("%q decoded without a resource version", line)
		}
		// Whatever decodes must be safe to look at.
		for _, cs := range ev.Pod.Status.ContainerStatuses {
			locate(ev.Pod, cs.Name, currentID(cs))
		}
	})
}
