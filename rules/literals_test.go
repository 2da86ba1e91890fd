package rules

import (
	"strings"
	"testing"
)

// A constant a helper cannot use makes the rule invalid, placed where the
// constant stands in the file; at run time it would have been a silent
// "false" (in_cidr, is_private) or an error on every event (duration).
func TestConstantArgumentsAreCheckedAtCompile(t *testing.T) {
	const head = "rules:\n  - name: r\n    severity: low\n"
	tests := []struct {
		name, rule string
		want       string // the problem's prefix; "" for none
	}{
		{"bad prefix length", `    when: event.kind == "grace_reuse" && !in_cidr(event.ip, "198.51.100.0/244")` + "\n",
			`r.yaml:4:61: when: in_cidr: not an address range such as 10.0.0.0/8 (or a single address): netip.ParsePrefix("198.51.100.0/244")`},
		{"folded, second line", "    when: >-\n      event.kind == \"grace_reuse\" && prev != nil\n      && !in_cidr(event.ip, \"198.51.100.0/24x\")\n",
			`r.yaml:6:29: when: in_cidr: not an address range`},
		{"plain over two lines", "    when: event.kind == \"grace_reuse\"\n      && in_cidr(event.ip, \"10.0.0.0/33\")\n",
			`r.yaml:5:28: when: in_cidr: not an address range`},
		{"literal block", "    when: |\n      event.kind == \"grace_reuse\"\n        && in_cidr(event.ip, \"10.0.0/8\")\n",
			`r.yaml:6:30: when: in_cidr: not an address range`},
		{"constant folded by expr", `    when: event.kind == "grace_reuse" && in_cidr(event.ip, "10.0.0." + "0/33")` + "\n",
			`r.yaml:4:70: when: in_cidr: not an address range`},
		{"arguments swapped", `    when: 'event.kind == "grace_reuse" && in_cidr("10.0.0.0/8", event.ip)'` + "\n",
			`r.yaml:4:51: when: in_cidr: not an IP address (the address comes first, then the range)`},
		{"is_private of no address", `    when: event.kind == "login" && is_private("10.0.0.x")` + "\n",
			`r.yaml:4:47: when: is_private: not an IP address: ParseAddr("10.0.0.x")`},
		{"duration in a summary", "    when: event.kind == \"login\"\n    summary: '\"late by \" + string(duration(\"5y\"))'\n",
			`r.yaml:5:44: summary: duration: not a duration such as 30s, 10m or 1h`},
		{"every bad constant is named", `    when: event.kind == "login" && in_cidr(event.ip, "a") && in_cidr(event.ip, "b")` + "\n",
			"r.yaml:4:54: when: in_cidr: not an address range such as 10.0.0.0/8 (or a single address): netip.ParsePrefix(\"a\"): no '/'\n" +
				`r.yaml:4:80: when: in_cidr: not an address range`},
		{"regexp, checked by expr", `    when: event.kind == "login" && event.user matches "[x"` + "\n",
			"r.yaml:4:47: when: error parsing regexp"},
		{"valid constants", `    when: event.kind == "login" && in_cidr(event.ip, "2001:db8::/32") && !in_cidr("192.0.2.1", "192.0.2.1") && !is_private("192.0.2.1") && event.time - prev.time < duration("2s")` + "\n", ""},
		// Known only at run time: left to in_cidr, which takes a range
		// that does not parse for "not in it".
		{"computed range", `    when: event.kind == "login" && in_cidr(event.ip, event.user + "/8")` + "\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(File{Name: "r.yaml", Data: []byte(head + tt.rule)})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error\n%v\nwant prefix\n%s", err, tt.want)
			}
		})
	}
}
