package kube

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/internal/kubefake"
)

// A name Kubernetes never gives a pod, which path.Join would turn into the
// path of another namespace's pod: its log, asked for with the watcher's
// credentials, is that pod's.
const (
	elsewhere = "other-team"
	victim    = "payroll"
	climbing  = "../../" + elsewhere + "/pods/" + victim
)

// victimServer is a fake API server with a pod in another namespace whose
// log must never be read.
func victimServer(t *testing.T) *kubefake.Server {
	srv := kubefake.New(t)
	srv.AddPod(elsewhere, victim, labels, container)
	srv.Log(elsewhere, victim, container, t0, "payroll's secret line")
	return srv
}

// Before a pod's name is joined into a request's path it is checked: the
// request is not sent.
func TestAPIRefusesAPodNameThatIsNotOne(t *testing.T) {
	t.Parallel()
	srv := victimServer(t)
	a, err := newAPI(srv.ClientConfig(), ns, "", selector)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, ask := range []struct {
		what string
		do   func(context.Context) error
	}{
		{"log", func(ctx context.Context) error {
			body, err := a.podLog(ctx, climbing, url.Values{"container": {container}})
			if err == nil {
				body.Close()
			}
			return err
		}},
		{"pod", func(ctx context.Context) error { _, err := a.getPod(ctx, climbing); return err }},
	} {
		err := ask.do(ctx)
		if err == nil || !strings.Contains(err.Error(), `"`+climbing+`"`) || !strings.Contains(err.Error(), "RFC 1123 subdomain") {
			t.Errorf("asking for the %s of pod %q: %v, want an error naming it and what is wrong", ask.what, climbing, err)
		}
	}
	if reqs := srv.LogRequests(); len(reqs) != 0 {
		t.Errorf("the API server was asked for a log: %v", reqs)
	}
}
