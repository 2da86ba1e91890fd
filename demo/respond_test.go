package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/internal/idptest"
)

// Without GeoIP nothing is critical: the demo's gate is then high, and the
// story still ends with the sessions ended and the thief refused. (A
// grace of 1 s was outrun by the replay under -race on a loaded machine.)
func TestDemoWithoutGeoEndsSessionsOnHigh(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	sum, err := Run(context.Background(), Options{Out: &out, Users: idptest.FastUsers(t), Grace: 2 * time.Second, TokenTTL: 5 * time.Second, Pause: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if sum.SessionsEnded != 1 || !sum.ThiefRefused || !sum.LateRefused {
		t.Errorf("sessions ended %d, thief refused %v, stolen token refused %v", sum.SessionsEnded, sum.ThiefRefused, sum.LateRefused)
	}
	if !strings.Contains(out.String(), "severity high ≥ high") {
		t.Errorf("the narration does not say the high gate decided:\n%s", out.String())
	}
}
