package sinks

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/testsync"
)

func webhookCfg(name, url string, minSev alert.Severity) Config {
	return Config{Type: TypeWebhook, Name: name, Origin: "test: " + name, MinSeverity: minSev,
		Delivery: Delivery{BackoffMin: time.Hour, BackoffMax: time.Hour}, Sink: &WebhookConfig{URL: Secret(url)}}
}

// What waits for a sink across a reload goes to the new sink of its name
// (a new URL here), through the new filter; a sink no longer configured
// gets nothing more.
func TestReloadHandsQueueToNewSink(t *testing.T) {
	t.Parallel()
	dead, deadReqs := webhookServer(t, http.StatusServiceUnavailable, http.StatusServiceUnavailable)
	fresh, freshReqs := webhookServer(t)
	gone, goneReqs := webhookServer(t)
	d, err := Build([]Config{webhookCfg("hook", dead.URL, alert.Info), webhookCfg("gone", gone.URL, alert.Info)},
		DispatcherOptions{DeadLetterPath: t.TempDir() + "/dead.jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	info := plain("low-one")
	info.Severity = alert.Info
	if err := d.Send(context.Background(), []alert.Alert{replay(), info}); err != nil {
		t.Fatal(err)
	}
	// The webhook posts alert by alert: the first attempt at "hook" failed
	// and its worker now waits an hour to retry.
	testsync.WaitFor(t, "first attempts", func() bool { return len(deadReqs()) == 1 && len(goneReqs()) == 2 })

	if err := d.Reload(context.Background(), []Config{webhookCfg("hook", fresh.URL, alert.High)}); err != nil {
		t.Fatal(err)
	}
	testsync.WaitFor(t, "queued group delivered by the new sink", func() bool { return len(freshReqs()) >= 1 })
	if err := d.Send(context.Background(), []alert.Alert{plain("after")}); err != nil { // medium: filtered out
		t.Fatal(err)
	}
	d.Close(context.Background())
	if got := freshReqs(); len(got) != 1 || !strings.Contains(string(got[0].body), replay().ID) {
		t.Errorf("new sink got %d requests; want the queued high alert only", len(got))
	}
	if n := len(goneReqs()); n != 2 {
		t.Errorf("removed sink got %d requests, want only the two before the reload", n)
	}
	if n := len(deadReqs()); n != 1 {
		t.Errorf("replaced sink got %d requests after the reload", n-1)
	}
	if got := d.Destinations(); len(got) != 1 || !strings.HasPrefix(got[0], "hook") {
		t.Errorf("destinations %v", got)
	}
}

// A config that cannot make its sinks is refused whole and the running
// sinks keep delivering.
func TestReloadRefusesBadConfig(t *testing.T) {
	t.Parallel()
	srv, reqs := webhookServer(t)
	d, err := Build([]Config{webhookCfg("hook", srv.URL, alert.Info)}, DispatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	for _, bad := range [][]Config{
		{webhookCfg("hook", "ftp://127.0.0.1/x", alert.Info)},
		{webhookCfg("a", srv.URL, alert.Info), webhookCfg("a", srv.URL, alert.Info)},
	} {
		var ce *ConfigError
		if err := d.Reload(context.Background(), bad); !errors.As(err, &ce) {
			t.Errorf("reload %v: %v, want a *ConfigError", bad, err)
		}
	}
	if err := d.Send(context.Background(), []alert.Alert{replay()}); err != nil {
		t.Fatal(err)
	}
	testsync.WaitFor(t, "old sink delivers after a refused reload", func() bool { return len(reqs()) == 1 })
}

// With a state directory the journal after a reload holds what the new
// routes queue, so a restart right after it sends the same.
func TestReloadKeepsJournal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	down, _ := webhookServer(t, http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusServiceUnavailable)
	d, err := Build([]Config{webhookCfg("hook", down.URL, alert.Info)}, DispatcherOptions{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	d.Send(context.Background(), []alert.Alert{replay()})
	testsync.WaitFor(t, "first attempt failed", func() bool { return d.Stats()[0].Retried == 1 })
	if err := d.Reload(context.Background(), []Config{webhookCfg("hook", down.URL, alert.Info)}); err != nil {
		t.Fatal(err)
	}
	// The reloaded sink tries the group at once (its worker starts anew),
	// and that attempt may already have failed when the stats are read
	// (a fresh-clone CI run saw 2): the count carries over, never back to 0.
	if st := d.Stats(); st[0].Queued != 1 || st[0].Retried < 1 {
		t.Errorf("stats after reload %+v, want the group queued and the retry counted", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	d.Close(ctx)
	up, upReqs := webhookServer(t)
	d2, err := Build([]Config{webhookCfg("hook", up.URL, alert.Info)}, DispatcherOptions{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close(context.Background())
	testsync.WaitFor(t, "restart sends what the reload kept", func() bool { return len(upReqs()) == 1 })
}
