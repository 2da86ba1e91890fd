package geo

import (
	"math"
	"testing"
	"time"
)

// Places as the databases give them (MaxMind's London and Milton, WA, as in
// its own test database).
var (
	london    = Info{City: "London", Lat: 51.5142, Lon: -0.0931, RadiusKm: 10, HasLocation: true}
	milton    = Info{City: "Milton", Lat: 47.2513, Lon: -122.3149, RadiusKm: 22, HasLocation: true}
	paris     = Info{City: "Paris", Lat: 48.8566, Lon: 2.3522, RadiusKm: 50, HasLocation: true}
	sydney    = Info{City: "Sydney", Lat: -33.8688, Lon: 151.2093, RadiusKm: 100, HasLocation: true}
	newYork   = Info{City: "New York", Lat: 40.7128, Lon: -74.0060, RadiusKm: 50, HasLocation: true}
	berlin    = Info{City: "Berlin", Lat: 52.5200, Lon: 13.4050, RadiusKm: 10, HasLocation: true}
	potsdam   = Info{City: "Potsdam", Lat: 52.3906, Lon: 13.0645, RadiusKm: 20, HasLocation: true}
	tokyo     = Info{City: "Tokyo", Lat: 35.6895, Lon: 139.6917, RadiusKm: 50, HasLocation: true}
	saoPaulo  = Info{City: "São Paulo", Lat: -23.5505, Lon: -46.6333, RadiusKm: 100, HasLocation: true}
	asnOnly   = Info{ASN: 64506, Org: "Example Transit"}
	halfEarth = math.Pi * EarthRadiusKm
)

func TestDistance(t *testing.T) {
	tests := []struct {
		name   string
		a, b   Info
		wantKm float64 // published great-circle figures
		tolKm  float64
	}{
		{"London–Milton WA", london, milton, 7700, 40},
		{"London–Paris", london, paris, 344, 3},
		{"London–New York", london, newYork, 5570, 25},
		{"London–Sydney", london, sydney, 16990, 60},
		{"Tokyo–São Paulo", tokyo, saoPaulo, 18530, 80},
		{"Berlin–Potsdam", berlin, potsdam, 26.5, 1},
		{"same place", berlin, berlin, 0, 1e-9},
		{"pole to pole", Info{Lat: 90}, Info{Lat: -90}, halfEarth, 1e-6},
		{"antipodes on the equator", Info{Lon: 0}, Info{Lon: 180}, halfEarth, 1e-6},
		{"across the antimeridian", Info{Lon: 179.5}, Info{Lon: -179.5}, 111.2, 0.1},
		{"one degree of latitude", Info{Lat: 10}, Info{Lat: 11}, 111.2, 0.1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Distance(tt.a.Lat, tt.a.Lon, tt.b.Lat, tt.b.Lon)
			back := Distance(tt.b.Lat, tt.b.Lon, tt.a.Lat, tt.a.Lon)
			if math.Abs(got-tt.wantKm) > tt.tolKm || math.Abs(got-back) > 1e-9 {
				t.Errorf("Distance = %.3f km (back %.3f), want %.1f ± %.1f", got, back, tt.wantKm, tt.tolKm)
			}
		})
	}
}

func TestTravel(t *testing.T) {
	tests := []struct {
		name       string
		from, to   Info
		elapsed    time.Duration
		wantOK     bool
		wantBeyond float64 // km, ± 1%
		wantSpeed  float64 // km/h, ± 1%
	}{
		// The sample log's replays: far beyond both radii in seconds.
		{"London to Milton in 2 s", london, milton, 2 * time.Second, true, 7668, 7668 / 2.0 * 3600},
		{"London to Sydney in 2.4 s", london, sydney, 2400 * time.Millisecond, true, 16880, 16880 / 2.4 * 3600},
		// A long-haul flight is not a jump.
		{"London to New York in 7 h", london, newYork, 7 * time.Hour, true, 5510, 5510 / 7.0},
		// Home and office in one metro area: within the radii, no travel.
		{"Berlin office to Potsdam home in 1 min", berlin, potsdam, time.Minute, true, 0, 0},
		{"same place at once", berlin, berlin, 0, true, 0, 0},
		// Order does not matter; a negative interval is clock skew.
		{"Sydney back to London", sydney, london, -2400 * time.Millisecond, true, 16880, 16880 / 2.4 * 3600},
		// Zero seconds: speed over one millisecond, finite and enormous.
		{"London to Paris at once", london, paris, 0, true, 284, 284 / MinTravelSeconds * 3600},
		{"unknown place", london, asnOnly, time.Second, false, 0, 0},
		{"no geo at all", Info{}, Info{}, time.Second, false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trip, ok := Travel(tt.from, tt.to, tt.elapsed)
			if ok != tt.wantOK {
				t.Fatalf("Travel ok = %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				if trip != (Trip{}) {
					t.Errorf("no travel, but %+v", trip)
				}
				return
			}
			if !near(trip.BeyondKm, tt.wantBeyond) || !near(trip.SpeedKmh, tt.wantSpeed) {
				t.Errorf("Travel = %+v; want beyond %.0f km, speed %.0f km/h", trip, tt.wantBeyond, tt.wantSpeed)
			}
			if trip.Seconds != math.Abs(tt.elapsed.Seconds()) || trip.BeyondKm > trip.DistanceKm ||
				math.IsInf(trip.SpeedKmh, 0) || math.IsNaN(trip.SpeedKmh) {
				t.Errorf("Travel = %+v: want |elapsed| seconds, beyond <= distance, finite speed", trip)
			}
		})
	}
}

func near(got, want float64) bool {
	if want == 0 {
		return got == 0
	}
	return math.Abs(got-want) <= 0.01*math.Abs(want)
}

func TestSpeed(t *testing.T) {
	tests := []struct {
		km, seconds, want float64
	}{
		{900, 3600, 900},
		{1, 1, 3600},
		{0, 0, 0},
		{0, 10, 0},
		{-5, 10, 0},
		{1, 0, 1 / MinTravelSeconds * 3600},
		{1, -3, 1 / MinTravelSeconds * 3600},
		{1, 0.0005, 1 / MinTravelSeconds * 3600},
	}
	for _, tt := range tests {
		if got := Speed(tt.km, tt.seconds); math.Abs(got-tt.want) > 1e-9*tt.want {
			t.Errorf("Speed(%v km, %v s) = %v, want %v", tt.km, tt.seconds, got, tt.want)
		}
	}
}
