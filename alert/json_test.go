package alert

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// marshalByReflection is how MarshalJSON wrote an alert before json.go:
// encoding/json over jsonAlert. The hand-written encoder is held to it.
func marshalByReflection(a Alert) ([]byte, error) {
	nonEmpty := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	j := jsonAlert{
		ID: a.ID, Time: formatTime(a.Time), Rule: a.Rule, Severity: a.Severity, Summary: a.Summary,
		User: a.User, IP: nonEmpty(a.IP), PrevIP: nonEmpty(a.PrevIP), Session: nonEmpty(a.Session),
		IdP: a.IdP, URL: a.URL, Source: a.Source, Geo: a.Geo, PrevGeo: a.PrevGeo,
		DistanceKm: a.DistanceKm, SpeedKmh: a.SpeedKmh, IntervalMs: a.IntervalMs, Raw: a.Raw, Response: a.Response,
		Peer: a.Peer, PrevPeer: a.PrevPeer, Via: a.Via, Agent: a.Agent, PrevAgent: a.PrevAgent,
		Attribution: a.Attribution, Candidates: a.Candidates,
	}
	if !a.PrevTime.IsZero() {
		t := formatTime(a.PrevTime)
		j.PrevTime = &t
	}
	return json.Marshal(j)
}

func ptr[T any](v T) *T { return &v }

func TestMarshalJSONIsEncodingJSONs(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 123e6, time.FixedZone("CET", 3600))
	full := Alert{
		ID: "870f2cfeb4670bb74c24", Time: t0, Rule: "impossible-travel", Severity: Critical,
		Summary: `<b>"quoted"</b> & more`, User: "uid=jjackson,ou=shadow,o=Tremolo", IP: "192.0.2.66",
		PrevIP: "198.51.100.23", PrevTime: t0.Add(-time.Minute), Session: "s1", IdP: "k8sIdp",
		URL: "https://k8sou.example.com/auth/idp/k8sIdp/token?a=1&b=2", Source: "/var/log/ou.log",
		Geo:        &Geo{Country: "DE", City: "Köln", Lat: ptr(50.9375), Lon: ptr(6.9603), RadiusKm: 20, ASN: 3320, Org: "Deutsche Telekom"},
		PrevGeo:    &Geo{Country: "US", Lat: ptr(0.0), Lon: ptr(-0.0000001)},
		DistanceKm: ptr(6123.456789), SpeedKmh: ptr(1e21), IntervalMs: ptr(int64(-5)),
		Raw:      "line\twith \x01 control \xff bytes \u2028 and \u2029",
		Response: &Response{Action: "end_sessions", Status: "ended", Sessions: 2, Trigger: "severity >= high", Error: "<none>"},
		Peer:     "10.0.0.1", PrevPeer: "10.0.0.2", Via: "ingress-nginx", Agent: "kubectl/v1.31", PrevAgent: "k9s",
		Attribution: "ambiguous", Candidates: []string{"192.0.2.1", "192.0.2.<2>"},
	}
	for _, tc := range []struct {
		name string
		a    Alert
	}{
		{"every key", full},
		{"the least", Alert{Severity: Info}},
		{"geo with nothing known", Alert{Severity: Low, Geo: &Geo{}, Candidates: []string{}}},
		{"small and large numbers", Alert{Severity: Medium, DistanceKm: ptr(1e-7), SpeedKmh: ptr(-123e-9), Geo: &Geo{Lat: ptr(1e20), Lon: ptr(5e-324)}}},
		{"a severity out of range", Alert{Severity: 42}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.a.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			want, err := marshalByReflection(tc.a)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("MarshalJSON:\n%s\nencoding/json:\n%s", got, want)
			}
			var back Alert
			if err := json.Unmarshal(got, &back); err != nil && tc.a.Severity != 42 {
				t.Fatalf("does not read back: %v", err)
			}
		})
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := (Alert{SpeedKmh: &f}).MarshalJSON(); err == nil {
			t.Errorf("speed %v: no error; encoding/json refuses it", f)
		}
		if _, err := (Alert{Geo: &Geo{Lat: &f}}).MarshalJSON(); err == nil {
			t.Errorf("latitude %v: no error; encoding/json refuses it", f)
		}
	}
}

// FuzzMarshalJSON holds the hand-written encoder to encoding/json on any
// strings and numbers an alert can carry (log lines, DNs, addresses are
// untrusted bytes).
func FuzzMarshalJSON(f *testing.F) {
	f.Add("summary <b>&</b>", "uid=a", "raw\x00\xff\u2028", "DE", 50.9, -6.96, 1e-7, 1234.5, int64(3), uint(3320), int64(0), 3600)
	f.Add("", "", "", "", 0.0, 0.0, 1e21, 0.0, int64(-1), uint(0), int64(1700000000000), -34200)
	f.Add("x", "y", "z", "", -1e-300, 5e-324, 0.5, 1e300, int64(1)<<62, uint(1)<<40, int64(-62135596800000), 50400)
	f.Fuzz(func(t *testing.T, summary, user, raw, country string, lat, lon, speed, distance float64, interval int64, asn uint, prevMs int64, zoneSeconds int) {
		zone := time.FixedZone(country, zoneSeconds%(18*3600))
		a := Alert{
			ID: "x", Time: time.UnixMilli(prevMs + 60000).In(zone), Summary: summary, User: user, IP: user, Raw: raw,
			Geo:        &Geo{Country: country, City: summary, Lat: &lat, Lon: &lon, RadiusKm: int(interval), ASN: asn, Org: raw},
			PrevGeo:    &Geo{Country: raw, Lat: &lon},
			DistanceKm: &distance, SpeedKmh: &speed, IntervalMs: &interval, Candidates: []string{raw, country},
			Peer: country, Attribution: summary,
			Response: &Response{Action: country, Status: summary, DryRun: prevMs%5 == 0, Sessions: int(asn), Trigger: raw,
				Namespace: raw, Attempts: int(interval), Error: user, HeldBack: country},
		}
		if prevMs%2 == 0 {
			a.PrevTime = time.UnixMilli(prevMs).In(zone)
		}
		if prevMs%3 == 0 {
			a.PrevGeo, a.Response, a.Geo = nil, nil, &Geo{}
		}
		got, gotErr := a.MarshalJSON()
		want, wantErr := marshalByReflection(a)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("error %v, encoding/json's %v", gotErr, wantErr)
		}
		if gotErr == nil && !bytes.Equal(got, want) {
			t.Fatalf("MarshalJSON:\n%s\nencoding/json:\n%s", got, want)
		}
	})
}

// The zero severity marshals as "unknown", which must read back: the
// sinks' journal rewrites the alerts it loaded and dropped the line of one
// without a severity on the next load (FuzzJournalLoad, 95e39faaf5568fd9).
func TestZeroSeverityReadsBack(t *testing.T) {
	b, err := json.Marshal(struct{ S Severity }{})
	if err != nil {
		t.Fatal(err)
	}
	var back struct{ S Severity }
	if err := json.Unmarshal(b, &back); err != nil || back.S != 0 {
		t.Fatalf("%s reads back as %v, %v", b, back.S, err)
	}
	if _, err := ParseSeverity("unknown"); err == nil {
		t.Fatal(`ParseSeverity took "unknown", which no user may give`)
	}
}
