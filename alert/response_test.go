package alert

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestResponseInJSONAndText(t *testing.T) {
	a := Alert{ID: "x", Time: time.Date(2026, 11, 23, 10, 3, 12, 0, time.UTC), Rule: "reuse-geo-jump", Severity: Critical, User: "uid=jjackson,o=T", IP: "192.0.2.66"}
	b, _ := json.Marshal(a)
	if !bytes.Contains(b, []byte(`"response":null`)) {
		t.Errorf("no response: %s, want \"response\":null", b)
	}
	a.Response = &Response{Action: "end_sessions", Status: ResponseDryRun, DryRun: true, Sessions: 2, Trigger: "severity critical ≥ high", Namespace: "openunison"}
	b, _ = json.Marshal(a)
	if !bytes.Contains(b, []byte(`"response":{"action":"end_sessions","status":"dry_run","dry_run":true,"sessions":2,"trigger":"severity critical ≥ high","namespace":"openunison"}`)) {
		t.Errorf("JSON %s", b)
	}
	var back Alert
	if err := json.Unmarshal(b, &back); err != nil || *back.Response != *a.Response {
		t.Errorf("round trip: %+v, %v", back.Response, err)
	}
	var text strings.Builder
	WriteText(&text, a, TextOptions{})
	if !strings.HasSuffix(text.String(), " → sessions ended: 2 (dry run)\n") {
		t.Errorf("text %q", text.String())
	}
}
