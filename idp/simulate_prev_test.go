package idp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/idp"
	"github.com/graceguard/graceguard/pipeline"
	"github.com/graceguard/graceguard/rules"
)

// The simulator's replays behind the ingress-nginx stand-in, scanned with
// both logs: an alert on a replay says where the refresh before it came
// from, and that is the user's client (the truth's prev_ip), or nothing
// when the proxy's records cannot say which client it was; never the
// stand-in's own address, which OpenUnison's log gives for every request
// behind an ingress and which no client ever had.
func TestSimulatedReplayAlertNamesTheRefreshClient(t *testing.T) {
	t.Parallel()
	px := startProxied(t, false)
	var truth bytes.Buffer
	if _, err := idp.Simulate(context.Background(), idp.SimConfig{
		Issuer: px.issuer, Users: 4, Duration: 1500 * time.Millisecond, Rate: 6, Grace: 5 * time.Second,
		Mix: idp.Mix{Replay: 1}, Source: idp.SourceXFF, Truth: &truth, Seed: 98,
	}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Records []idp.TruthRecord `json:"records"`
	}
	if err := json.Unmarshal(truth.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	var replays []idp.TruthRecord
	for _, r := range doc.Records {
		if r.Expect == idp.ExpectReplay {
			replays = append(replays, r)
		}
	}
	if len(replays) == 0 {
		t.Fatal("the simulator made no replay accepted in grace")
	}

	var got []alert.Alert
	if _, err := pipeline.Scan(context.Background(), []pipeline.Input{
		{Name: "openunison.log", R: strings.NewReader(px.idpLog.String())},
		{Name: "ingress.log", R: strings.NewReader(px.proxyLog.String())},
	}, pipeline.ScanOptions{Rules: rules.Builtin(), Deliver: func(_ context.Context, g []alert.Alert) error {
		got = append(got, g...)
		return nil
	}}); err != nil {
		t.Fatal(err)
	}

	proxy := idp.DefaultProxyFrom.String()
	checked := 0
	for _, a := range got {
		r, ok := replayAt(replays, a)
		if !ok {
			continue
		}
		checked++
		// The stand-in did its part: its access log names the refresh's
		// client, as ingress-nginx's would.
		if !strings.Contains(px.proxyLog.String(), "\n"+r.PrevIP+" - - [") && !strings.HasPrefix(px.proxyLog.String(), r.PrevIP+" - - [") {
			t.Errorf("the stand-in's access log has no request from %s, the client of %s's refresh before the replay", r.PrevIP, r.User)
		}
		switch {
		case a.PrevIP == proxy:
			var line strings.Builder
			_ = alert.WriteText(&line, a, alert.TextOptions{})
			t.Errorf("%s on %s's replay from %s: the previous refresh is shown from %s, the stand-in's address (prev_peer %s), want its client %s or none\n  %s  %s",
				a.Rule, r.User, r.IP, a.PrevIP, a.PrevPeer, r.PrevIP, &line, a.Summary)
		case a.PrevIP != "" && a.PrevIP != r.PrevIP:
			t.Errorf("%s on %s's replay from %s: the previous refresh is shown from %s, want its client %s\n  %s",
				a.Rule, r.User, r.IP, a.PrevIP, r.PrevIP, a.Summary)
		}
	}
	if checked == 0 {
		t.Fatalf("%d replays, no alert on any of them (%d alerts)", len(replays), len(got))
	}
}

// replayAt is the replay an alert is about: its user's answered nearest
// the alert's time, within a second.
func replayAt(replays []idp.TruthRecord, a alert.Alert) (idp.TruthRecord, bool) {
	var best idp.TruthRecord
	found := false
	for _, r := range replays {
		if d := r.End.Sub(a.Time).Abs(); r.DN == a.User && d < time.Second && (!found || d < best.End.Sub(a.Time).Abs()) {
			best, found = r, true
		}
	}
	return best, found
}
