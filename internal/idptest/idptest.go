// Package idptest drives the bundled IdP from the outside in tests, as the
// clients whose records its logs must hold. It is for tests only: non-test
// code must not import it.
package idptest

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/graceguard/graceguard/idp"
	"github.com/graceguard/graceguard/internal/nginxtest"
)

// Traffic is clients refreshing their tokens without pause: the load a log
// is rotated, reopened or cut off under in the tests of idp's logs and of
// idp serve's.
type Traffic struct {
	requests atomic.Int64
	stopped  atomic.Bool
	wg       sync.WaitGroup
}

// Refresh starts clients through c, client i logging in as user from
// 192.0.2.(10+i) and refreshing from there, each refresh with the token
// the last one returned, until Stop. A request that fails fails t, unless
// ctx has ended, which is the test going away, not the IdP failing.
// Stop is called when the test ends, if the test has not.
func Refresh(ctx context.Context, t testing.TB, c *idp.Client, clients int, user, password string) *Traffic {
	t.Helper()
	tr := &Traffic{}
	fail := func(err error) {
		if ctx.Err() == nil {
			t.Error(err)
		}
	}
	for i := range clients {
		tr.wg.Go(func() {
			from := netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)})
			tok, err := c.Login(ctx, from, user, password)
			if err != nil {
				fail(err)
				return
			}
			tr.requests.Add(1)
			for !tr.stopped.Load() {
				if tok, err = c.Refresh(ctx, from, tok.RefreshToken); err != nil {
					fail(err)
					return
				}
				tr.requests.Add(1)
			}
		})
	}
	t.Cleanup(func() { tr.Stop() })
	return tr
}

// Requests is how many token requests (logins and refreshes) have been
// answered so far.
func (tr *Traffic) Requests() int64 { return tr.requests.Load() }

// Stop ends the refreshing, waits for the requests under way and returns
// how many were answered in all: once it returns, a server that has
// finished its requests has logged each one.
func (tr *Traffic) Stop() int64 {
	tr.stopped.Store(true)
	tr.wg.Wait()
	return tr.requests.Load()
}

// AzSuccesses counts the AzSuccess records of user in an OpenUnison log:
// one a token request answered, login or refresh, whatever the grace.
func AzSuccesses(log, user string) int64 {
	var n int64
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "[AzSuccess]") && strings.Contains(l, "uid="+user+",") {
			n++
		}
	}
	return n
}

// TokenRecords counts the token requests in the proxy's access log
// (ingress-nginx's upstreaminfo format), failing t at a line that is not
// one whole record and at a request logged twice.
func TokenRecords(t testing.TB, log string) int64 {
	t.Helper()
	var n int64
	ids := map[string]bool{}
	for _, s := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		l, err := nginxtest.ParseLine(s)
		if err != nil {
			t.Fatalf("%v: %q", err, s)
		}
		if ids[l.ReqID] {
			t.Errorf("request %s logged twice", l.ReqID)
		}
		ids[l.ReqID] = true
		if l.Path() == idp.DefaultIssuerPath+"/token" {
			n++
		}
	}
	return n
}
