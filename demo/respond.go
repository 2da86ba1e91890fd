package demo

// The containment chapter: graceguard watch --revoke. The IdP keeps its
// sessions as OidcSession objects in a Kubernetes API (the repo's fake
// API server, on loopback), as OpenUnison's session store does; on the
// replay's alert graceguard deletes jjackson's, and the thief's next
// refresh is refused.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/idp"
	"github.com/graceguard/graceguard/internal/kubefake"
	"github.com/graceguard/graceguard/pipeline"
	"github.com/graceguard/graceguard/respond"
)

// containment is the fake API server, the IdP's session store in it and
// the Responder that ends sessions there.
type containment struct {
	sessions  *idp.KubeSessions
	responder *respond.Responder
	cleanups  []func()
}

// Cleanup runs f when the demo ends (kubefake asks for it).
func (c *containment) Cleanup(f func()) { c.cleanups = append(c.cleanups, f) }

// startContainment starts the API server and the Responder: sessions end
// on a critical alert, or on a high one when there is no GeoIP database to
// make the replay critical.
func startContainment(ctx context.Context, opt Options) (*containment, error) {
	c := &containment{}
	api := kubefake.New(c)
	var err error
	if c.sessions, err = idp.NewKubeSessions(api.ClientConfig(), respond.DefaultNamespace); err != nil {
		c.close()
		return nil, err
	}
	sessions, err := respond.NewAPI(api.ClientConfig())
	if err != nil {
		c.close()
		return nil, err
	}
	gate := alert.Critical
	if opt.Geo == nil {
		gate = alert.High
	}
	c.responder, err = respond.New(sessions, respond.Options{Severity: gate, Logger: opt.Logger.With("component", "revoke")})
	if err != nil {
		c.close()
		return nil, err
	}
	go c.responder.Run(context.WithoutCancel(ctx))
	return c, nil
}

// wrap makes deliveries end sessions first, so the alerts carry the outcome.
func (c *containment) wrap(next pipeline.Deliver) pipeline.Deliver {
	return pipeline.Deliver(c.responder.Deliver(respond.Deliver(next)))
}

func (c *containment) close() {
	if c.responder != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.responder.Close(ctx)
	}
	for i := len(c.cleanups) - 1; i >= 0; i-- {
		c.cleanups[i]()
	}
}

// revoked tells the last chapter: graceguard ended the victim's sessions
// on the replay's alert, so neither the stolen token nor the tokens the
// replay handed the thief (the session's current ones, jjackson's too)
// refresh any more.
func (d *teller) revoked(ctx context.Context, c *idp.Client, stolen string, victim idp.Tokens, sum *Summary) error {
	res := d.waitResponse(ctx, dn("jjackson"), 5*time.Second)
	if res == nil || res.Status != alert.ResponseEnded {
		return fmt.Errorf("graceguard did not end jjackson's sessions: %+v", res)
	}
	sum.SessionsEnded = res.Sessions
	sum.Steps++
	d.step("graceguard does more than alert: with watch --revoke it deleted jjackson's OidcSession objects on that alert, as OpenUnison does at logout")
	d.verdict(true, fmt.Sprintf("sessions ended: %d (%s), before anyone has read the alert.", res.Sessions, res.Trigger))
	sum.Steps++
	d.step("The thief refreshes with the tokens the replay handed out, then with the stolen token")
	for i, tok := range []string{victim.RefreshToken, stolen} {
		_, err := c.Refresh(ctx, thief, tok)
		switch {
		case err == nil:
			return errors.New("the thief's refresh after the revocation was accepted")
		case !idp.IsInvalidGrant(err):
			return fmt.Errorf("the thief's refresh: %w", err)
		}
		if i == 0 {
			sum.ThiefRefused = true
		} else {
			sum.LateRefused = true
		}
	}
	d.verdict(true, "both refused with invalid_grant: the session is gone. jjackson logs in again; the thief cannot.")
	return nil
}

// waitResponse waits for an alert about user that carries a final
// response; nil after patience.
func (d *teller) waitResponse(ctx context.Context, user string, patience time.Duration) *alert.Response {
	deadline := time.Now().Add(patience)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		d.mu.Lock()
		for _, a := range d.alerts {
			if a.User == user && a.Response != nil && a.Response.Status != alert.ResponsePending {
				d.mu.Unlock()
				return a.Response
			}
		}
		d.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
