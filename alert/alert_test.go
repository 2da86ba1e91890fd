package alert

import "testing"

func TestIDNamesOneRecord(t *testing.T) {
	const rule, src = "reuse-ip-mismatch", "2049:131"
	base := ID(rule, src, 120, "[10:00:02,000] reuse from 192.0.2.66")
	tests := []struct {
		name   string
		id     string
		differ bool
	}{
		{"the same record read again", ID(rule, src, 120, "[10:00:02,000] reuse from 192.0.2.66"), false},
		{"a new record at the old offset (copytruncate)", ID(rule, src, 120, "[10:07:41,000] reuse from 192.0.2.67"), true},
		{"the same text at another offset", ID(rule, src, 480, "[10:00:02,000] reuse from 192.0.2.66"), true},
		{"another file", ID(rule, "2049:132", 120, "[10:00:02,000] reuse from 192.0.2.66"), true},
		{"another rule", ID("reuse-new-ip", src, 120, "[10:00:02,000] reuse from 192.0.2.66"), true},
		{"parts do not run together", ID(rule, src+"1", 20, "[10:00:02,000] reuse from 192.0.2.66"), true},
	}
	for _, tt := range tests {
		if (tt.id != base) != tt.differ {
			t.Errorf("%s: id %s, base %s, want differ=%v", tt.name, tt.id, base, tt.differ)
		}
	}
}
