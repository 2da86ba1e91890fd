package respond

import (
	"context"
	"fmt"
	"testing"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/kubefake"
)

// BenchmarkEndSessions is one revocation as an alert sees it: the
// metadata-only list and the deletecollection of a user's two sessions,
// over TLS and HTTP/2 on loopback to the fake API server (discovery once).
// It bounds what --revoke-wait must cover in a healthy cluster, less the
// real API server's own work.
func BenchmarkEndSessions(b *testing.B) {
	api := kubefake.New(b)
	sessions, err := NewAPI(api.ClientConfig())
	if err != nil {
		b.Fatal(err)
	}
	r, err := New(sessions, Options{Severity: alert.High, PerUser: Limit{N: 0, Per: 1}, Overall: Limit{N: 0, Per: 1}})
	if err != nil {
		b.Fatal(err)
	}
	hash := DNHash(victim)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		api.AddOidcSession(ns, fmt.Sprintf("fa%d", i), hash, "kubernetes", tokenMarker)
		api.AddOidcSession(ns, fmt.Sprintf("fb%d", i), hash, "kubernetes", tokenMarker)
		if n, err := r.once(ctx, &job{hash: hash}, r.opt.Logger); err != nil || n != 2 {
			b.Fatalf("ended %d: %v", n, err)
		}
	}
}
