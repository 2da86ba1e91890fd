package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/testsync"
	"github.com/graceguard/graceguard/respond"
)

// watch --revoke ends the replayed user's sessions in OpenUnison's
// namespace through the kubeconfig's API server, and the alert says so.
func TestWatchRevokes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		config   string
		want     string
		sessions int // left for the victim
	}{
		{"ends", []string{"--revoke", "high"}, "", alert.ResponseEnded, 0},
		{"dry run from the config", nil, "revoke: high\nrevoke-dry-run: true\n", alert.ResponseDryRun, 2},
		{"excluded by the config's list", nil, "revoke: high\nrevoke-exclude:\n  - uid=nobody,o=T\n  - UID=JJACKSON,ou=shadow,o=*\n", alert.ResponseExcluded, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, kubeconfig := kubeServer(t)
			victim := "uid=jjackson,ou=shadow,o=Tremolo"
			srv.AddOidcSession("openunison", "f1", respond.DNHash(victim), "kubernetes", "secret")
			srv.AddOidcSession("openunison", "f2", respond.DNHash(victim), "kubernetes", "secret")
			srv.AddOidcSession("openunison", "f3", respond.DNHash("uid=mmosley,ou=shadow,o=Tremolo"), "kubernetes", "secret")
			dir := t.TempDir()
			logPath := filepath.Join(dir, "openunison.log")
			appendFile(t, logPath, replayLines("jjackson", 1))
			args := append([]string{"--format", "json", "--state-dir", "", "--kubeconfig", kubeconfig, "--listen", "127.0.0.1:0"}, tt.args...)
			if tt.config != "" {
				cfg := filepath.Join(dir, "gg.yaml")
				os.WriteFile(cfg, []byte(tt.config), 0o644)
				args = append(args, "--config", cfg)
			}
			w := startWatch(t, append(args, logPath)...)
			testsync.WaitFor(t, "an alert", func() bool { return strings.Contains(w.out.String(), "\n") })
			a := w.alerts(t)[0]
			if a.Response == nil || a.Response.Status != tt.want {
				t.Fatalf("response %+v, want %s\n%s", a.Response, tt.want, w.errOut.String())
			}
			left := 0
			for _, name := range srv.OidcSessions("openunison") {
				if name != "xf3x" {
					left++
				}
			}
			if left != tt.sessions || !strings.Contains(strings.Join(srv.OidcSessions("openunison"), ","), "xf3x") {
				t.Errorf("sessions left %v, want %d of the victim's and the bystander's", srv.OidcSessions("openunison"), tt.sessions)
			}
			_, metrics := get(t, "http://"+waitForAddr(t, w)+"/metrics")
			if want := `graceguard_revocations_total{status="` + tt.want + `"} 1`; !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s", want)
			}
			if w.stop(t) != 0 {
				t.Errorf("watch failed:\n%s", w.errOut.String())
			}
		})
	}
}

func TestWatchRevokeUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--revoke", "medium"}, "high or above only"},
		{[]string{"--revoke", "urgent"}, "want high, critical or rules"},
		{[]string{"--revoke", "high", "--revoke-user-limit", "often"}, "N/DURATION"},
		{[]string{"--revoke", "high", "--revoke-exclude", "uid=[x"}, "--revoke-exclude"},
		// The responder takes 0 for no limit at all, not "at most none".
		{[]string{"--revoke", "high", "--revoke-limit", "0/1m"}, "--revoke-limit \"0/1m\": want N of 1 or more"},
		{[]string{"--revoke", "high", "--revoke-user-limit", "0/10m"}, "--revoke-user-limit \"0/10m\": want N of 1 or more"},
		// Sent as it is, every revocation would be refused by the API server.
		{[]string{"--revoke", "high", "--revoke-namespace", "Bad_NS!"}, `--revoke-namespace: namespace "Bad_NS!"`},
		{[]string{"--revoke", "high", "--kubeconfig", "/nonexistent/kubeconfig"}, "kubeconfig"},
		// The responder takes 0 for its default, 2s: "do not wait" waited.
		{[]string{"--revoke", "high", "--revoke-wait", "0s"}, "--revoke-wait: must be above zero"},
	}
	for _, tt := range tests {
		args := append([]string{"watch", "--state-dir", "", "x.log"}, tt.args...)
		_, stderr, code := run(t, nil, args...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
}

// A --revoke-* flag typed without --revoke would do nothing, and said
// nothing: watch ran with no session ever ended. On the command line it is
// a usage error naming the flag. From the config file or the environment
// it is a default kept for when --revoke is on (README: a revoke-exclude:
// list in the config file), and --revoke set off says it is meant.
func TestWatchRevokeFlagsWithoutRevoke(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "graceguard.yaml")
	if err := os.WriteFile(cfg, []byte("revoke-limit: 5/1m\nrevoke-exclude:\n  - uid=breakglass,o=T\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string // "" for a watch that runs
	}{
		{[]string{"--revoke-limit", "5/1m"}, "--revoke-limit"},
		{[]string{"--revoke-user-limit", "2/10m"}, "--revoke-user-limit"},
		{[]string{"--revoke-dry-run"}, "--revoke-dry-run"},
		{[]string{"--revoke-exclude", "uid=a,o=T"}, "--revoke-exclude"},
		{[]string{"--revoke-namespace", "ou"}, "--revoke-namespace"},
		{[]string{"--revoke-wait", "1s"}, "--revoke-wait"},
		{[]string{"--revoke-wait", "1s", "--revoke-limit", "5/1m"}, "--revoke-limit, --revoke-wait"},
		{[]string{"--config", cfg}, ""},
		{[]string{"--revoke", "off", "--revoke-limit", "5/1m"}, ""},
		{[]string{"--revoke", "", "--revoke-dry-run"}, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			want := tt.want
			if want != "" {
				want = "graceguard: " + want + ": given without --revoke"
			}
			checkWatchRunsOrRefuses(t, tt.args, want)
		})
	}
}

func TestDNListKeepsCommas(t *testing.T) {
	t.Parallel()
	var l dnList
	l.Set("uid=a,ou=b,o=T")
	if len(l) != 1 {
		t.Errorf("a flag's DN was split: %q", l)
	}
	// The environment's value comes split at commas; ';' separates items.
	l.Replace(strings.Split("uid=a,ou=b,o=T;uid=breakglass-*,o=T", ","))
	if len(l) != 2 || l[0] != "uid=a,ou=b,o=T" || l[1] != "uid=breakglass-*,o=T" {
		t.Errorf("from the environment: %q", l)
	}
}

func TestIdpSessionStoreUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--session-store", "redis"}, "want memory or kube"},
		{[]string{"--kubeconfig", "/nonexistent"}, "for --session-store kube"},
		{[]string{"--session-store", "kube", "--kubeconfig", "/nonexistent/kubeconfig"}, "--session-store kube"},
	}
	for _, tt := range tests {
		args := append([]string{"idp", "serve", "--addr", "127.0.0.1:0"}, tt.args...)
		_, stderr, code := run(t, nil, args...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
}

// The variable's DNs keep the spaces after their commas: an escaped comma
// with a space ("cn=Larsen\, Priya") lost it, and the break-glass user it
// named was logged out.
func TestDNListFromEnvironmentKeepsSpaces(t *testing.T) {
	t.Parallel()
	var l dnList
	f := pflag.NewFlagSet("watch", pflag.ContinueOnError)
	f.Var(&l, "revoke-exclude", "")
	if err := setFlag(f.Lookup("revoke-exclude"), `cn=Larsen\, Priya,ou=Users,o=T; uid=ops, ou=Admins,o=T`); err != nil {
		t.Fatal(err)
	}
	if want := (dnList{`cn=Larsen\, Priya,ou=Users,o=T`, "uid=ops, ou=Admins,o=T"}); !slices.Equal(l, want) {
		t.Errorf("from the environment: %q, want %q", l, want)
	}
}
