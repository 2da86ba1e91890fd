package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/idp"
	"github.com/graceguard/graceguard/internal/idptest"
)

// credSecret stands for a password or a client secret an operator gives.
const credSecret = "Xw4pQ9sEcr7"

func checkNoCredSecret(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range append(secrets, credSecret) {
		forms := []string{s, url.QueryEscape(s)}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			// Basic auth of the client (client_secret_basic) and of a user.
			forms = append(forms, enc.EncodeToString([]byte(s)), enc.EncodeToString([]byte(idp.DefaultClientID+":"+s)),
				enc.EncodeToString([]byte(idp.DefaultClientID+":"+url.QueryEscape(s))))
		}
		for _, f := range forms {
			if strings.Contains(text, f) {
				t.Errorf("%s shows %q:\n%s", where, f, text)
			}
		}
	}
}

// password: and client-secret: in the config file are refused at their
// line, as slack-token: is, whichever command reads the file and whatever
// the value: simulate's demo password too, which leaving the key out
// gives. Their *_file keys name files and are taken.
func TestConfigFileHoldsNoPasswordOrClientSecret(t *testing.T) {
	t.Parallel()
	stub := runners{
		scan:     func(context.Context, *scanOptions) error { return nil },
		simulate: func(context.Context, *simulateOptions) error { return nil },
		idpServe: func(context.Context, *idpServeOptions) error { return nil },
	}
	const (
		password = `is a secret, which the config file may not hold: give it with --password or GRACEGUARD_PASSWORD, or password_file naming a file that holds it (idp login also reads --password-stdin; simulate without one uses the demo users' password)`
		client   = `is a secret, which the config file may not hold: give it with --client-secret or GRACEGUARD_CLIENT_SECRET, or client_secret_file naming a file that holds it`
	)
	for _, tt := range []struct {
		name   string
		config string
		args   []string
		want   string // the whole of stderr after "graceguard: FILE:"; "" for a run
	}{
		{"simulate password", "users: 2\npassword: " + credSecret + "\n", []string{"simulate"}, `2:1: "password" ` + password},
		{"the demo password", "password: " + idp.SimulatedPassword + "\n", []string{"simulate"}, `1:1: "password" ` + password},
		{"simulate client secret", "client_secret: " + credSecret + "\n", []string{"simulate"}, `1:1: "client_secret" ` + client},
		{"idp serve client secret", "grace: 5s\nclient-secret: " + credSecret + "\n", []string{"idp", "serve"}, `2:1: "client-secret" ` + client},
		{"idp login password", "password: '" + credSecret + "'\n", []string{"idp", "login", "--user", "a"}, `1:1: "password" ` + password},
		{"idp login client secret", "client_secret: " + credSecret + "\n", []string{"idp", "login", "--user", "a", "--password", "x"}, `1:1: "client_secret" ` + client},
		// scan would ignore the key, as another command's: the file holds
		// the secret all the same.
		{"read by another command", "password: " + credSecret + "\n", []string{"scan", "x.log"}, `1:1: "password" ` + password},
		{"both", "password: " + credSecret + "\nclient_secret: " + credSecret + "\n", []string{"simulate"},
			`1:1: "password" ` + password + "\nFILE:2:1: \"client_secret\" " + client},
		{"files", "password_file: /run/secrets/pw\nclient-secret-file: /run/secrets/cs\n", []string{"simulate"}, ""},
		{"state password file", "state-password-file: /run/secrets/redis\n", []string{"scan", "x.log"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "graceguard.yaml")
			if err := os.WriteFile(path, []byte(tt.config), 0o600); err != nil {
				t.Fatal(err)
			}
			args := append([]string{tt.args[0], "--config", path}, tt.args[1:]...)
			if tt.args[0] == "idp" {
				args = append([]string{"idp", tt.args[1], "--config", path}, tt.args[2:]...)
			}
			stdout, stderr, code := runWith(t, stub, nil, args...)
			if tt.want == "" {
				if code != 0 {
					t.Errorf("exit %d, stderr %q; want a run", code, stderr)
				}
				return
			}
			want := "graceguard: " + path + ":" + strings.ReplaceAll(tt.want, "FILE", path) + "\n"
			if code != exitUsage || stderr != want {
				t.Errorf("exit %d, stderr %q; want %d and\n%s", code, stderr, exitUsage, want)
			}
			checkNoCredSecret(t, "stdout", stdout)
		})
	}
}

// readSecretFlag reads a -file sibling by the rules every secret file
// follows (internal/secretfile): white space around the value dropped, an
// empty file or one past 64 KiB refused. Its errors are usage errors that
// name the flag and the path, never the file's content.
func TestReadSecretFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const tooLarge = ": file is larger than 64 KiB, the most a secret file may hold"
	huge := write("huge", credSecret+strings.Repeat("x", 64<<10))
	for _, tt := range []struct {
		name, value, file string
		want, wantErr     string
	}{
		{"none", "", "", "", ""},
		{"value alone", "v", "", "v", ""},
		{"file", "", write("pw", credSecret+"\n"), credSecret, ""},
		{"CRLF", "", write("crlf", credSecret+"\r\n"), credSecret, ""},
		{"spaces dropped", "", write("spaces", " "+credSecret+"\t \n"), credSecret, ""},
		{"both", "v", write("both", credSecret), "", "--password and --password-file exclude each other"},
		{"empty", "", write("empty", "\n"), "", "--password-file: " + filepath.Join(dir, "empty") + ": file is empty"},
		{"only white space", "", write("blank", " \t\r\n"), "", "--password-file: " + filepath.Join(dir, "blank") + ": file is empty"},
		{"past the cap", "", huge, "", "--password-file: " + huge + tooLarge},
		{"missing", "", filepath.Join(dir, "missing"), "", "--password-file: no such file (its path is not shown: it may be the secret itself)"},
		// The secret itself where its file's name belongs: not shown.
		{"the secret for its path", "", credSecret, "", "--password-file: no such file (its path is not shown: it may be the secret itself)"},
		{"directory", "", dir, "", "--password-file: " + dir + ": not a regular file (a directory)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := tt.value
			err := readSecretFlag("password", &v, tt.file)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || !isUsage(err) {
					t.Fatalf("err %v, want the usage error %q", err, tt.wantErr)
				}
				checkNoCredSecret(t, "error", err.Error())
				return
			}
			if err != nil || v != tt.want {
				t.Errorf("%q, %v; want %q", v, err, tt.want)
			}
		})
	}
}

func isUsage(err error) bool {
	var code bytes.Buffer
	return exitCode(&code, err) == exitUsage
}

// Each command takes its -file flags, and simulate without a password
// uses the demo users'.
func TestSecretFileFlagsRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pw, cs := filepath.Join(dir, "pw"), filepath.Join(dir, "cs")
	os.WriteFile(pw, []byte("pw-"+credSecret+"\n"), 0o600)
	os.WriteFile(cs, []byte("cs-"+credSecret+"\n"), 0o600)

	sim := &simulateOptions{issuer: "http://127.0.0.1:1/auth/idp/k8sIdp", users: 1, userFormat: idp.SimulatedUserFormat,
		duration: 1, every: 1e9, concurrency: 1, source: "xff", format: "text"}
	cfg, err := sim.simConfig()
	if err != nil || cfg.Password != idp.SimulatedPassword || cfg.ClientSecret != "" {
		t.Errorf("simulate without a password: %v, password is the demo's %v", err, cfg.Password == idp.SimulatedPassword)
	}
	sim.passwordFile, sim.clientSecretFile = pw, cs
	cfg, err = sim.simConfig()
	if err != nil || cfg.Password != "pw-"+credSecret || cfg.ClientSecret != "cs-"+credSecret {
		t.Errorf("simulate's files: %v, password read %v, client secret read %v", err, cfg.Password == "pw-"+credSecret, cfg.ClientSecret == "cs-"+credSecret)
	}

	login := &idpLoginOptions{user: "a", passwordFile: pw, clientSecretFile: cs}
	if err := login.readCredentials(); err != nil || login.password != "pw-"+credSecret || login.clientSecret != "cs-"+credSecret {
		t.Errorf("login's files: %v", err)
	}
	for _, tt := range []struct {
		o    idpLoginOptions
		want string
	}{
		{idpLoginOptions{user: "a", passwordFile: pw, passwordStdin: true}, "--password-file and --password-stdin exclude each other"},
		{idpLoginOptions{user: "a", password: credSecret, passwordFile: pw}, "--password and --password-file exclude each other"},
		{idpLoginOptions{user: "a", password: "x", clientSecret: credSecret, clientSecretFile: cs}, "--client-secret and --client-secret-file exclude each other"},
		{idpLoginOptions{user: "a"}, "--password, --password-file or --password-stdin is required"},
	} {
		o := tt.o
		o.io = streams{in: strings.NewReader(credSecret + "\n")}
		if err := o.readCredentials(); err == nil || err.Error() != tt.want {
			t.Errorf("%v, want %q", err, tt.want)
		}
	}

	serve := idpServeDefaults()
	serve.clientSecretFile = cs
	got, _, err := serve.config()
	if err != nil || got.ClientSecret != "cs-"+credSecret {
		t.Errorf("idp serve's file: %v", err)
	}
}

// Help shows no password or client secret: not simulate's default (the
// demo password), nor a value the environment holds.
func TestHelpShowsNoPasswordOrClientSecret(t *testing.T) {
	t.Setenv("GRACEGUARD_PASSWORD", "env-"+credSecret)
	t.Setenv("GRACEGUARD_CLIENT_SECRET", "envcs-"+credSecret)
	for _, args := range [][]string{{"simulate", "--help"}, {"idp", "serve", "--help"}, {"idp", "login", "--help"}} {
		stdout, stderr, code := run(t, nil, args...)
		if code != 0 || !strings.Contains(stdout, "--password") && !strings.Contains(stdout, "--client-secret-file") {
			t.Errorf("%v: exit %d, stdout %q", args, code, stdout)
		}
		if strings.Contains(stdout, `(default "`+idp.SimulatedPassword+`")`) {
			t.Errorf("%v shows the demo password as a default:\n%s", args, stdout)
		}
		checkNoCredSecret(t, strings.Join(args, " "), stdout+stderr)
	}
}

// Against an IdP with a client secret, the wrong password or client
// secret, given by flag, variable or file, fails without being shown.
func TestWrongCredentialsNotShown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String() + idp.DefaultIssuerPath
	p, err := idp.New(idp.Config{Issuer: issuer, ClientID: idp.DefaultClientID, ClientSecret: "right-" + credSecret,
		Users: idptest.FastUsers(t), Log: io.Discard, Diag: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(p)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	cs := filepath.Join(dir, "cs")
	os.WriteFile(cs, []byte("wrong-"+credSecret+"\n"), 0o600)
	kc := filepath.Join(dir, "kubeconfig")
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"login, client secret file", []string{"idp", "login", "--issuer", issuer, "--user", "mmosley", "--password", idp.DemoPassword,
			"--client-secret-file", cs, "--kubeconfig", kc}, "invalid_client"},
		{"login, password", []string{"idp", "login", "--issuer", issuer, "--user", "mmosley", "--password", "wrong-" + credSecret,
			"--client-secret", "right-" + credSecret, "--kubeconfig", kc}, "wrong username or password"},
		{"simulate, client secret", []string{"simulate", "--issuer", issuer, "--users", "1", "--duration", "1s", "-q",
			"--client-secret", "wrong-" + credSecret}, "invalid_client"},
		{"simulate, password", []string{"simulate", "--issuer", issuer, "--users", "1", "--duration", "1s", "-q",
			"--password", "wrong-" + credSecret, "--client-secret", "right-" + credSecret}, "invalid_grant"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := run(t, nil, tt.args...)
			if code != exitRuntime || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, exitRuntime, tt.want)
			}
			checkNoCredSecret(t, "stdout and stderr", stdout+stderr)
		})
	}
}
