package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/graceguard/graceguard/idp"
	"github.com/graceguard/graceguard/respond"
)

// flagCase is one invocation of a command whose run function is replaced:
// want is the options flag parsing must produce, ignored when wantErr.
type flagCase[O any] struct {
	name    string
	args    []string
	want    O
	wantErr bool
}

// testFlags parses each case's arguments with newCmd's runF capturing the
// options, so flags are checked without serving, dialling or reading files.
// A bad invocation must be a usage error (exit 2) found before running.
func testFlags[O any](t *testing.T, newCmd func(streams, func(context.Context, *O) error) *cobra.Command, cases []flagCase[O]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got *O
			cmd := newCmd(streams{}, capture(&got))
			// The root command turns flag errors into usage errors; a
			// command run on its own has no root, so it is given the same.
			cmd.SetFlagErrorFunc(flagUsageError)
			// cobra reads os.Args, the test binary's flags, when given nil.
			cmd.SetArgs(append([]string{}, tc.args...))
			cmd.SetIn(strings.NewReader(""))
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute() // before got is read: argument order is not promised
			checkParsed(t, err, got, tc.want, tc.wantErr, nil)
		})
	}
}

func TestGeoLookupFlags(t *testing.T) {
	t.Parallel()
	testFlags(t, newGeoLookupCmd, []flagCase[geoLookupOptions]{
		{name: "defaults", args: []string{"192.0.2.66"},
			want: geoLookupOptions{format: "table", ips: []string{"192.0.2.66"}}},
		{name: "every flag", args: []string{"--geoip-city", "c.mmdb", "--geoip-asn", "a.mmdb", "--format", "json", "192.0.2.66", "::1"},
			want: geoLookupOptions{geo: geoFlags{city: "c.mmdb", asn: "a.mmdb"}, format: "json", ips: []string{"192.0.2.66", "::1"}}},
		{name: "no address", args: []string{"--geoip-city", "c.mmdb"}, wantErr: true},
		{name: "unknown flag", args: []string{"--geoip", "c.mmdb", "192.0.2.66"}, wantErr: true},
	})
}

func idpServeDefaults() idpServeOptions {
	return idpServeOptions{
		addr:        "127.0.0.1:8443",
		idTokenTTL:  idp.DefaultIDTokenTTL,
		sessionTTL:  idp.DefaultSessionTTL,
		clientID:    idp.DefaultClientID,
		sessionID:   string(idp.SessionIDRequest),
		maxSessions: idp.DefaultMaxSessions,
		store:       idpStoreFlags{kind: "memory", namespace: respond.DefaultNamespace},
	}
}

func TestIdpServeFlags(t *testing.T) {
	t.Parallel()
	every := idpServeOptions{
		addr: "127.0.0.1:9443", issuer: "https://idp.example/auth/idp/k8sIdp", grace: 5 * time.Second,
		idTokenTTL: time.Minute, sessionTTL: time.Hour, usersFile: "users.yaml", clientID: "k8s", clientSecret: "s3cret",
		clientSecretFile: "cs", logFile: "idp.log", trustedProxies: []string{"127.0.0.1/32", "10.0.0.0/8"}, sessionID: "oidc",
		tlsCert: "cert.pem", tlsKey: "key.pem", signingKey: "sign.pem", revokeOnReuse: true, maxSessions: 7,
		store: idpStoreFlags{kind: "kube", namespace: "openunison", kubeconfig: "kc", context: "lab"},
		proxy: frontProxyFlags{listen: "127.0.0.1:8080", log: "ingress.log", from: "127.0.0.9"},
	}
	testFlags(t, newIdpServeCmd, []flagCase[idpServeOptions]{
		{name: "defaults", want: idpServeDefaults()},
		{name: "every flag", args: []string{"--addr", "127.0.0.1:9443", "--issuer", "https://idp.example/auth/idp/k8sIdp",
			"--grace", "5s", "--id-token-ttl", "1m", "--session-ttl", "1h", "--users", "users.yaml", "--client-id", "k8s",
			"--client-secret", "s3cret", "--client-secret-file", "cs", "--log", "idp.log", "--trusted-proxies", "127.0.0.1/32,10.0.0.0/8", "--session-id", "oidc",
			"--tls-cert", "cert.pem", "--tls-key", "key.pem", "--signing-key", "sign.pem", "--revoke-on-reuse", "--max-sessions", "7",
			"--session-store", "kube", "--session-namespace", "openunison", "--kubeconfig", "kc", "--kube-context", "lab",
			"--proxy-listen", "127.0.0.1:8080", "--proxy-log", "ingress.log", "--proxy-from", "127.0.0.9"}, want: every},
		{name: "bad duration", args: []string{"--grace", "5 seconds"}, wantErr: true},
		{name: "bad count", args: []string{"--max-sessions", "many"}, wantErr: true},
		{name: "stray argument", args: []string{"now"}, wantErr: true},
	})
}

func TestIdpLoginFlags(t *testing.T) {
	t.Parallel()
	defaults := idpLoginOptions{issuer: "http://127.0.0.1:8443" + idp.DefaultIssuerPath, clientID: idp.DefaultClientID}
	testFlags(t, newIdpLoginCmd, []flagCase[idpLoginOptions]{
		{name: "defaults", want: defaults},
		{name: "every flag", args: []string{"--issuer", "https://idp.example/auth/idp/k8sIdp", "--user", "mmosley",
			"--password", "start123", "--password-stdin", "--kubeconfig", "kc", "--server", "https://127.0.0.1:6443",
			"--certificate-authority", "api-ca.pem", "--insecure-skip-tls-verify", "--idp-certificate-authority", "idp-ca.pem",
			"--client-id", "k8s", "--client-secret", "s3cret", "--kubeconfig-user", "me", "--password-file", "pw", "--client-secret-file", "cs"},
			want: idpLoginOptions{issuer: "https://idp.example/auth/idp/k8sIdp", user: "mmosley", password: "start123",
				passwordStdin: true, kubeconfig: "kc", server: "https://127.0.0.1:6443", certificateAuthority: "api-ca.pem",
				insecureSkipTLSVerify: true, idpCA: "idp-ca.pem", clientID: "k8s", clientSecret: "s3cret", userEntry: "me",
				passwordFile: "pw", clientSecretFile: "cs"}},
		{name: "bad bool", args: []string{"--password-stdin=maybe"}, wantErr: true},
		{name: "stray argument", args: []string{"mmosley"}, wantErr: true},
	})
}

func TestRulesCheckFlags(t *testing.T) {
	t.Parallel()
	testFlags(t, newRulesCheckCmd, []flagCase[rulesCheckOptions]{
		{name: "files", args: []string{"a.yaml", "b.yaml"}, want: rulesCheckOptions{files: []string{"a.yaml", "b.yaml"}}},
		{name: "no file", wantErr: true},
		{name: "unknown flag", args: []string{"--verbose", "a.yaml"}, wantErr: true},
	})
}

func TestRulesTestFlags(t *testing.T) {
	t.Parallel()
	testFlags(t, newRulesTestCmd, []flagCase[rulesTestOptions]{
		{name: "defaults", want: rulesTestOptions{files: []string{}}},
		{name: "every flag", args: []string{"-v", "--geoip-city", "c.mmdb", "--geoip-asn", "a.mmdb", "a.yaml", "b.yaml"},
			want: rulesTestOptions{files: []string{"a.yaml", "b.yaml"}, verbose: true, geo: geoFlags{city: "c.mmdb", asn: "a.mmdb"}}},
		{name: "bad bool", args: []string{"--verbose=loud"}, wantErr: true},
	})
}

func TestSimulateFlags(t *testing.T) {
	t.Parallel()
	defaults := simulateOptions{
		issuer: "http://127.0.0.1:8443" + idp.DefaultIssuerPath, users: 10, userFormat: idp.SimulatedUserFormat, firstUser: 1,
		duration: time.Minute, every: 10 * time.Second,
		race: idp.DefaultMix.Race, replay: idp.DefaultMix.Replay, outside: idp.DefaultMix.OutsideGrace,
		source: "auto", concurrency: 64, clientID: idp.DefaultClientID, format: "text",
	}
	testFlags(t, newSimulateCmd, []flagCase[simulateOptions]{
		{name: "defaults", want: defaults},
		{name: "every flag", args: []string{"--issuer", "https://idp.example/auth/idp/k8sIdp", "--users", "50", "--user-format", "u%03d",
			"--first-user", "3", "--password", "pw", "--password-file", "pwf", "--client-secret-file", "csf", "--duration", "2m", "--rate", "12.5", "--every", "3s", "--grace", "5s",
			"--race", "0.1", "--replay", "0.2", "--outside-grace", "0.3", "--source", "xff", "--home-net", "198.51.100.0/25",
			"--replay-net", "192.0.2.0/25", "--concurrency", "8", "--client-id", "k8s", "--client-secret", "s3cret",
			"--truth", "truth.json", "--seed", "42", "--format", "json", "-q", "--proxy-log", "ingress.log", "--proxy-from", "127.0.0.9"},
			want: simulateOptions{issuer: "https://idp.example/auth/idp/k8sIdp", users: 50, userFormat: "u%03d", firstUser: 3,
				password: "pw", passwordFile: "pwf", clientSecretFile: "csf", duration: 2 * time.Minute, rate: 12.5, every: 3 * time.Second, grace: 5 * time.Second,
				race: 0.1, replay: 0.2, outside: 0.3, source: "xff", homeNet: "198.51.100.0/25", replayNet: "192.0.2.0/25",
				concurrency: 8, clientID: "k8s", clientSecret: "s3cret", truth: "truth.json", seed: 42, format: "json", quiet: true,
				proxy: frontProxyFlags{log: "ingress.log", from: "127.0.0.9"}}},
		{name: "bad number", args: []string{"--users", "ten"}, wantErr: true},
		{name: "bad rate", args: []string{"--rate", "fast"}, wantErr: true},
		{name: "stray argument", args: []string{"now"}, wantErr: true},
	})
}

func TestVersionFlags(t *testing.T) {
	t.Parallel()
	testFlags(t, newVersionCmd, []flagCase[versionOptions]{
		{name: "no arguments", want: versionOptions{}},
		{name: "unknown flag", args: []string{"--short"}, wantErr: true},
		{name: "stray argument", args: []string{"now"}, wantErr: true},
	})
}
