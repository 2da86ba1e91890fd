package rules

import (
	"strings"
	"testing"
	"time"
)

// A rule's revoke: setting reaches its alerts, where watch --revoke reads
// it; the built-in rules say nothing and leave it to the severity gate.
func TestRevokeSettingReachesTheAlert(t *testing.T) {
	e := NewEngine(load(t, `
rules:
  - name: reuse-ip-mismatch
    severity: high
    when: event.kind == "grace_reuse" && prev.ip != event.ip
    revoke: false
  - name: reuse-new-ip
    severity: low
    when: event.kind == "grace_reuse"
    revoke: true
`))
	got := map[string]string{}
	for _, a := range e.Evaluate(nil, reuseContext(2*time.Second, "192.0.2.66", "198.51.100.23")) {
		switch {
		case a.RevokeRule == nil:
			got[a.Rule] = "unset"
		case *a.RevokeRule:
			got[a.Rule] = "true"
		default:
			got[a.Rule] = "false"
		}
	}
	if got["reuse-ip-mismatch"] != "false" || got["reuse-new-ip"] != "true" {
		t.Errorf("revoke settings on the alerts: %v", got)
	}
	for _, a := range NewEngine(Builtin()).Evaluate(nil, reuseContext(2*time.Second, "192.0.2.66", "198.51.100.23")) {
		if a.RevokeRule != nil {
			t.Errorf("built-in rule %s says revoke: %v", a.Rule, *a.RevokeRule)
		}
	}
}

func TestRevokeSettingMustBeABoolean(t *testing.T) {
	_, err := Load(File{Name: "test.yaml", Data: []byte(`rules:
  - name: r
    severity: low
    when: event.kind == "grace_reuse"
    revoke: sometimes
`)})
	if err == nil || !strings.HasPrefix(err.Error(), `test.yaml:5:13: "revoke" must be true or false`) {
		t.Errorf("error %v", err)
	}
}
