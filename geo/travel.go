package geo

import (
	"math"
	"time"
)

// EarthRadiusKm is the Earth's mean radius (IUGG). Treating the Earth as a
// sphere errs by under 0.5%, far less than any GeoIP accuracy radius.
const EarthRadiusKm = 6371.0088

// Distance is the great-circle distance in kilometres between two points
// given in degrees, by the haversine formula, which stays accurate for the
// short distances (same metro area) where the law of cosines loses digits.
func Distance(lat1, lon1, lat2, lon2 float64) float64 {
	φ1, φ2 := radians(lat1), radians(lat2)
	dφ, dλ := radians(lat2-lat1), radians(lon2-lon1)
	h := sq(math.Sin(dφ/2)) + math.Cos(φ1)*math.Cos(φ2)*sq(math.Sin(dλ/2))
	// Rounding can push h a hair above 1 for antipodal points.
	return 2 * EarthRadiusKm * math.Asin(math.Sqrt(min(h, 1)))
}

func radians(deg float64) float64 { return deg * math.Pi / 180 }
func sq(x float64) float64        { return x * x }

// Trip relates two located addresses in space and time.
type Trip struct {
	Seconds    float64 // time between the two, never negative
	DistanceKm float64 // great-circle distance between the two places
	// BeyondKm is the distance less both accuracy radii, never negative:
	// how far apart the two must be at the least, given how unsure the
	// databases are of each place.
	BeyondKm float64
	// SpeedKmh is BeyondKm over Seconds: the slowest travel that explains
	// both addresses. Two places within each other's radii travel at 0.
	SpeedKmh float64
}

// MinTravelSeconds is the shortest interval a speed is computed over. The
// logs stamp milliseconds, so records in the same millisecond (or out of
// order by clock skew between replicas) are as good as simultaneous; the
// speed over one millisecond stays a finite number that still dwarfs any
// threshold, where dividing by zero would give +Inf, which JSON cannot carry.
const MinTravelSeconds = 0.001

// Travel relates from and to, elapsed apart (in either order). It reports
// false when either has no location.
func Travel(from, to Info, elapsed time.Duration) (Trip, bool) {
	if !from.HasLocation || !to.HasLocation {
		return Trip{}, false
	}
	d := Distance(from.Lat, from.Lon, to.Lat, to.Lon)
	s := math.Abs(elapsed.Seconds())
	beyond := max(0, d-float64(from.RadiusKm)-float64(to.RadiusKm))
	return Trip{Seconds: s, DistanceKm: d, BeyondKm: beyond, SpeedKmh: Speed(beyond, s)}, true
}

// Speed is km travelled in seconds, in km/h: 0 for no distance whatever the
// time, and computed over at least MinTravelSeconds.
func Speed(km, seconds float64) float64 {
	if km <= 0 {
		return 0
	}
	return km / max(seconds, MinTravelSeconds) * 3600
}
