package attribute

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/graceguard/graceguard/parser"
)

// A request joined to its record is no open request, also when that record
// names no client ("-"): it is unattributed, but it took its record, and
// counting it among the requests still wanting one made an honest request
// beside it outnumbered by a record too few.
func TestOutnumberedCountsNoRequestThatTookItsRecord(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	tests := []struct {
		name        string
		in          []parser.Event
		want        []string
		outnumbered int64
	}{
		{
			name: "nginx's order joins both; the first record names no client",
			in: []parser.Event{
				ou(parser.KindTokenOK, 100*ms, ouA, ctl1, "t1"),
				nginx(ngx1, 100*ms, netip.Addr{}, podA, 200, kubectlAgent),
				ou(parser.KindTokenOK, 600*ms, ouA, ctl1, "t2"),
				nginx(ngx1, 600*ms, thief, podA, 200, "curl/8.5.0"),
			},
			want: []string{
				"unattributed 10.1.67.12 10.1.67.12 [ingress-nginx 10.1.67.12] Go-http-client/2.0 []",
				"joined 192.0.2.66 10.1.67.12 [ingress-nginx 10.1.67.12] curl/8.5.0 []",
			},
		},
		{
			name: "the same, both records naming a client",
			in: []parser.Event{
				ou(parser.KindTokenOK, 100*ms, ouA, ctl1, "t1"),
				nginx(ngx1, 100*ms, alice, podA, 200, kubectlAgent),
				ou(parser.KindTokenOK, 600*ms, ouA, ctl1, "t2"),
				nginx(ngx1, 600*ms, thief, podA, 200, "curl/8.5.0"),
			},
			want: []string{
				"joined 203.0.113.9 10.1.67.12 [ingress-nginx 10.1.67.12] Go-http-client/2.0 []",
				"joined 192.0.2.66 10.1.67.12 [ingress-nginx 10.1.67.12] curl/8.5.0 []",
			},
		},
		{
			// The rule still holds with the first request's record lost:
			// two requests, one record.
			name: "the first request's record lost: both outnumbered",
			in: []parser.Event{
				ou(parser.KindTokenOK, 100*ms, ouA, ctl1, "t1"),
				ou(parser.KindTokenOK, 600*ms, ouA, ctl1, "t2"),
				nginx(ngx1, 600*ms, thief, podA, 200, "curl/8.5.0"),
			},
			want: []string{
				"unattributed 10.1.67.12 10.1.67.12 [ingress-nginx 10.1.67.12] curl/8.5.0 []",
				"unattributed 10.1.67.12 10.1.67.12 [ingress-nginx 10.1.67.12] curl/8.5.0 []",
			},
			outnumbered: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := New(Options{ProxyPeers: map[string]netip.Addr{ngx1: ctl1}})
			got := describe(run(a, tt.in...))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
			if st := a.Stats(); st.Outnumbered != tt.outnumbered {
				t.Errorf("%d outnumbered, want %d", st.Outnumbered, tt.outnumbered)
			}
		})
	}
}
