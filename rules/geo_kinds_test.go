package rules

import (
	"testing"

	"github.com/graceguard/graceguard/parser"
)

func TestNeedsGeo(t *testing.T) {
	for when, want := range map[string]bool{
		`event.kind == "token_ok" && travel != nil && travel.speed_kmh > 900`: true,
		`geo != nil && geo.asn != 0`:                                          true,
		`prev.geo != nil`:                                                     true,
		`event.kind == "token_ok" && (travel != nil || user.ip_seen)`:         false,
		`event.kind == "grace_reuse" && prev != nil`:                          false,
		`travel == nil`: false,
		`not valid (`:   false,
	} {
		if _, got := shapeOf(when); got != want {
			t.Errorf("shape of %q: geo = %v, want %v", when, got, want)
		}
	}
}

// Without GeoIP no built-in can fire on a refresh, so refreshes need no
// facts (no round trip to a shared history each); with it, refresh-travel
// judges them.
func TestGeoRulesWantRefreshesOnlyWithGeo(t *testing.T) {
	e := NewEngine(Builtin())
	if e.Wants(parser.KindTokenOK) {
		t.Error("without GeoIP the built-ins want token_ok")
	}
	if !e.Wants(parser.KindTokenFail) || !e.Wants(parser.KindGraceReuse) {
		t.Error("chain-takeover and the reuse rules must be wanted without GeoIP")
	}
	e.SetGeo(true)
	if !e.Wants(parser.KindTokenOK) {
		t.Error("with GeoIP refresh-travel wants token_ok")
	}
}
