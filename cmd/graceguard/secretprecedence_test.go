package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// A secret and its -file sibling set at different levels follow the order
// of precedence every setting has (flag, environment, file): the one set
// higher wins, as a --password typed over a config file's password wins
// over its password: would, were that allowed. Set at the same level
// they exclude each other.
func TestSecretAndItsFileFollowPrecedence(t *testing.T) {
	dir := t.TempDir()
	fileSecret := filepath.Join(dir, "secret")
	if err := os.WriteFile(fileSecret, []byte("file-"+credSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		config string
		env    map[string]string
		args   []string
		// want is the password (simulate) or client secret (idp serve)
		// taken; "" for a usage error.
		want string
	}{
		{"typed password over password_file:", "password_file: " + fileSecret + "\n", nil,
			[]string{"simulate", "--password", "typed"}, "typed"},
		{"typed password file over GRACEGUARD_PASSWORD", "", map[string]string{"GRACEGUARD_PASSWORD": "env"},
			[]string{"simulate", "--password-file", fileSecret}, "file-" + credSecret},
		{"GRACEGUARD_PASSWORD over password_file:", "password_file: " + fileSecret + "\n", map[string]string{"GRACEGUARD_PASSWORD": "env"},
			[]string{"simulate"}, "env"},
		{"GRACEGUARD_CLIENT_SECRET over client_secret_file:", "client_secret_file: " + fileSecret + "\n", map[string]string{"GRACEGUARD_CLIENT_SECRET": "env"},
			[]string{"idp", "serve"}, "env"},
		{"typed client secret over GRACEGUARD_CLIENT_SECRET_FILE", "", map[string]string{"GRACEGUARD_CLIENT_SECRET_FILE": fileSecret},
			[]string{"idp", "serve", "--client-secret", "typed"}, "typed"},
		{"both typed", "", nil, []string{"simulate", "--password", "typed", "--password-file", fileSecret}, ""},
		{"both in the environment", "", map[string]string{"GRACEGUARD_CLIENT_SECRET": "env", "GRACEGUARD_CLIENT_SECRET_FILE": fileSecret},
			[]string{"idp", "serve"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var got string
			stub := runners{
				simulate: func(_ context.Context, o *simulateOptions) error {
					cfg, err := o.simConfig()
					got = cfg.Password
					return err
				},
				idpServe: func(_ context.Context, o *idpServeOptions) error {
					cfg, _, err := o.config()
					got = cfg.ClientSecret
					return err
				},
			}
			args := tt.args
			if tt.config != "" {
				path := filepath.Join(t.TempDir(), "graceguard.yaml")
				if err := os.WriteFile(path, []byte(tt.config), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(append([]string{}, args...), "--config", path)
			}
			stdout, stderr, code := runWith(t, stub, nil, args...)
			checkNoCredSecret(t, "stdout", stdout)
			checkNoCredSecret(t, "stderr", stderr)
			if tt.want == "" {
				if code != exitUsage {
					t.Errorf("exit %d, stderr %q; want a usage error", code, stderr)
				}
				return
			}
			if code != 0 || got != tt.want {
				t.Errorf("exit %d, stderr %q, took %q; want %q", code, stderr, got, tt.want)
			}
		})
	}
}
