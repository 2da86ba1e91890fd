package correlate

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/parser"
)

// Refresh members written before attribution ("name|ip|session") still
// read; the new ones carry the client's attribution, peer and agent.
func TestDecodeRefreshMembers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		member string
		want   RefreshFact
		err    bool
	}{
		{member: "n|198.51.100.40|s", want: RefreshFact{IP: netip.MustParseAddr("198.51.100.40"), Session: "s"}},
		{member: "n|203.0.113.9|s|joined|10.1.67.12|Go-http-client/2.0 |x", want: RefreshFact{IP: netip.MustParseAddr("203.0.113.9"), Session: "s",
			Attribution: parser.AttrJoined, Peer: netip.MustParseAddr("10.1.67.12"), Agent: "Go-http-client/2.0 |x"}},
		{member: "n|10.1.67.12|s|unattributed||", want: RefreshFact{IP: netip.MustParseAddr("10.1.67.12"), Session: "s", Attribution: parser.AttrUnattributed}},
		{member: "n|1.2.3.4", err: true},
	}
	for _, tt := range tests {
		got, err := decodeRefresh(tt.member, "1795428092401000")
		if (err != nil) != tt.err {
			t.Errorf("%q: err %v", tt.member, err)
			continue
		}
		got.Time = tt.want.Time
		if !tt.err && got != tt.want {
			t.Errorf("%q: got %+v, want %+v", tt.member, got, tt.want)
		}
	}
	obs := Observation{Attribution: parser.AttrJoined, Peer: netip.MustParseAddr("10.1.67.12"), Agent: "curl/8.5.0"}
	if got := clientSuffix(obs); got != "|joined|10.1.67.12|curl/8.5.0" {
		t.Errorf("suffix %q", got)
	}
	if got := clientSuffix(Observation{}); got != "" {
		t.Errorf("suffix of an unattributed refresh %q, want the old layout", got)
	}
}

// eventName writes what it always did with Sprintf, and a refresh's
// member what it always did with +: events already in Redis keep their
// names.
func TestEventNameAsSprintf(t *testing.T) {
	t.Parallel()
	for _, obs := range []Observation{
		{Source: "8:1234", Offset: 0},
		{Source: "8:1234", Offset: 300, Digest: 1<<32 | 0xdeadbeef},
		{Source: "pod|a", Offset: 1<<62 + 5, Digest: 1},
		{Source: "x", Offset: -1, Digest: 7},
	} {
		src := strings.ReplaceAll(obs.Source, "|", "/")
		want := fmt.Sprintf("%016x.%016x@%s", obs.Offset, obs.Digest, src)
		if obs.Digest == 0 {
			want = fmt.Sprintf("%016x@%s", obs.Offset, src)
		}
		if got := eventName(obs); got != want {
			t.Errorf("eventName(%+v) = %q, want %q", obs, got, want)
		}
		// A refresh's member starts with it, as it always did.
		obs.Session, obs.Attribution, obs.Agent = "s1", parser.AttrJoined, "kubectl|1.31"
		want += "|192.0.2.1|s1" + clientSuffix(obs)
		if got := refreshMember(obs, "192.0.2.1"); got != want {
			t.Errorf("refreshMember(%+v) = %q, want %q", obs, got, want)
		}
	}
}

// The script goes to Redis without its comments and indentation (40% of
// its bytes), which every round trip's SCRIPT LOAD hashes; its lines stay where they were, so
// Redis's errors (user_script:LINE) name redis.lua's.
func TestScriptSentWithoutComments(t *testing.T) {
	t.Parallel()
	if got, want := strings.Count(applySource(), "\n"), strings.Count(applyFile, "\n"); got != want {
		t.Errorf("%d lines sent, redis.lua has %d", got, want)
	}
	for i, l := range strings.Split(applySource(), "\n") {
		if strings.HasPrefix(l, "--") || strings.HasPrefix(l, " ") {
			t.Errorf("line %d sent as %q", i+1, l)
		}
	}
	for _, code := range []string{"local function gate()", "trimMoves()"} {
		if !strings.Contains(applySource(), "\n"+code+"\n") {
			t.Errorf("%q not sent", code)
		}
	}
}
