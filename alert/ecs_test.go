package alert

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// The ECS document carries each fact where ECS has a home for it, and the
// optional objects only when there is something to put in them.
func TestECS(t *testing.T) {
	t.Parallel()
	lat, lon := 52.37, 4.89
	tests := []struct {
		name        string
		a           Alert
		wantSource  bool
		wantRelated []string
		wantRisk    float64
	}{
		{"no address", Alert{ID: "a1", Rule: "r", User: "u", Severity: Low}, false, nil, 25},
		{"same address twice", Alert{ID: "a2", Rule: "r", IP: "192.0.2.1", PrevIP: "192.0.2.1", Severity: High}, true, []string{"192.0.2.1"}, 75},
		{"moved", Alert{ID: "a3", Rule: "r", IP: "192.0.2.1", PrevIP: "198.51.100.2", Severity: Critical,
			Geo: &Geo{City: "Amsterdam", Lat: &lat, Lon: &lon}}, true, []string{"192.0.2.1", "198.51.100.2"}, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.a.Time = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
			d := ECS(tt.a)
			if (d.Source != nil) != tt.wantSource || !slices.Equal(d.Related.IP, tt.wantRelated) || d.Event.RiskScore != tt.wantRisk {
				t.Errorf("source %v, related %v, risk %v", d.Source, d.Related.IP, d.Event.RiskScore)
			}
			if d.Timestamp != "2026-11-26T09:00:00.000Z" || d.Event.ID != tt.a.ID || d.Rule.Name != "r" {
				t.Errorf("document %+v", d)
			}
			if _, err := json.Marshal(d); err != nil {
				t.Fatal(err)
			}
		})
	}
}
