package kubeclient

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/graceguard/graceguard/internal/testcert"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// view is what a loaded configuration means for the requests made with
// it, in a form that both this package's Config and client-go's
// rest.Config can be put in, to compare them.
type view struct {
	URL, ServerName, CA     string
	Insecure, NoCompression bool
	Token, TokenFile        string
	Username, Password      string
	Cert, Key               string
	Exec                    string
	Impersonate             string
	Proxy                   string
	Namespace               string
}

func viewOf(t *testing.T, c *Config, ns string) view {
	t.Helper()
	u, err := c.ServerURL()
	if err != nil {
		t.Fatal(err)
	}
	v := view{
		URL: u.String(), ServerName: c.ServerName, CA: string(c.CAData), Insecure: c.Insecure, NoCompression: c.DisableCompression,
		Token: c.Token, TokenFile: c.TokenFile, Username: c.Username, Password: c.Password,
		Cert: string(dataOrRead(t, c.CertData, c.CertFile)), Key: string(dataOrRead(t, c.KeyData, c.KeyFile)),
		Namespace: ns,
	}
	if c.Impersonate.set() {
		v.Impersonate = fmt.Sprint(c.Impersonate.User, c.Impersonate.UID, c.Impersonate.Groups, c.Impersonate.Extra)
	}
	if c.ProxyURL != nil {
		v.Proxy = c.ProxyURL.String()
	}
	if e := c.Exec; e != nil {
		v.Exec = fmt.Sprint(e.Command, e.Args, e.Env, e.APIVersion, e.InstallHint)
		if cl := e.Cluster; cl != nil {
			v.Exec += fmt.Sprint(" cluster ", cl.Server, cl.TLSServerName, cl.InsecureSkipTLSVerify, string(cl.CertificateAuthorityData), cl.ProxyURL, cl.DisableCompression, compactJSON(t, cl.Config))
		}
	}
	return v
}

func viewOfRest(t *testing.T, c *rest.Config, ns string) view {
	t.Helper()
	u, _, err := rest.DefaultServerUrlFor(c)
	if err != nil {
		t.Fatal(err)
	}
	v := view{
		URL: u.String(), ServerName: c.ServerName, CA: string(dataOrRead(t, c.CAData, c.CAFile)), Insecure: c.Insecure, NoCompression: c.DisableCompression,
		Token: strings.TrimSpace(c.BearerToken), TokenFile: c.BearerTokenFile, Username: c.Username, Password: c.Password,
		Cert: string(dataOrRead(t, c.CertData, c.CertFile)), Key: string(dataOrRead(t, c.KeyData, c.KeyFile)),
		Namespace: ns,
	}
	if i := c.Impersonate; i.UserName != "" {
		v.Impersonate = fmt.Sprint(i.UserName, i.UID, i.Groups, i.Extra)
	}
	if c.Proxy != nil {
		req, _ := http.NewRequest("GET", u.String(), nil)
		if p, err := c.Proxy(req); err == nil && p != nil {
			v.Proxy = p.String()
		}
	}
	if e := c.ExecProvider; e != nil {
		var env []string
		for _, kv := range e.Env {
			env = append(env, kv.Name+"="+kv.Value)
		}
		v.Exec = fmt.Sprint(e.Command, e.Args, env, e.APIVersion, e.InstallHint)
		if e.ProvideClusterInfo {
			cl, err := rest.ConfigToExecCluster(c)
			if err != nil {
				t.Fatal(err)
			}
			var raw []byte
			if u, ok := e.Config.(*runtime.Unknown); ok {
				raw = u.Raw
			}
			v.Exec += fmt.Sprint(" cluster ", cl.Server, cl.TLSServerName, cl.InsecureSkipTLSVerify, string(cl.CertificateAuthorityData), cl.ProxyURL, cl.DisableCompression, compactJSON(t, raw))
		}
	}
	return v
}

func dataOrRead(t *testing.T, data []byte, path string) []byte {
	t.Helper()
	if len(data) > 0 || path == "" {
		return data
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func compactJSON(t *testing.T, b []byte) string {
	if len(b) == 0 {
		return ""
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// loadWithClientcmd loads a kubeconfig as graceguard did with client-go:
// clientcmd's deferred loading, then the checks rest's transport made
// before the first request (those were usage errors too).
func loadWithClientcmd(kubeconfig, context string) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", err
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", err
	}
	if _, err := rest.TLSConfigFor(cfg); err != nil {
		return nil, "", err
	}
	if _, err := rest.HTTPWrappersForConfig(cfg, http.DefaultTransport); err != nil {
		return nil, "", err
	}
	return cfg, ns, nil
}

// fixture is a directory with the files kubeconfigs refer to: a CA, a
// client certificate and key, a token file, a second CA.
type fixture struct {
	dir                string
	ca, cert, key, ca2 []byte
}

func newFixture(t *testing.T) *fixture {
	ca := testcert.NewCA(t)
	f := &fixture{dir: t.TempDir(), ca: ca.PEM, ca2: testcert.NewCA(t).PEM}
	f.cert, f.key = ca.Client(t, "alice")
	writeFile(t, filepath.Join(f.dir, "conf", "ca.crt"), f.ca)
	writeFile(t, filepath.Join(f.dir, "ca2.crt"), f.ca2)
	writeFile(t, filepath.Join(f.dir, "client.crt"), f.cert)
	writeFile(t, filepath.Join(f.dir, "client.key"), f.key)
	writeFile(t, filepath.Join(f.dir, "conf", "token"), []byte("file-token\n"))
	return f
}

// expand fills a kubeconfig template: {{CA}}, {{CERT}}, {{KEY}} are the
// base64 of the fixture's files, {{DIR}} its directory.
func (f *fixture) expand(s string) string {
	b64 := base64.StdEncoding.EncodeToString
	return strings.NewReplacer("{{CA}}", b64(f.ca), "{{CA2}}", b64(f.ca2), "{{CERT}}", b64(f.cert), "{{KEY}}", b64(f.key), "{{DIR}}", f.dir).Replace(s)
}

// kc is a one-context kubeconfig: cluster c (server and cluster fields),
// user u (user fields), context x with ns, current.
func kc(cluster, user string) string {
	return "apiVersion: v1\nkind: Config\ncurrent-context: x\n" +
		"clusters:\n- name: c\n  cluster:\n" + indent(cluster, 4) +
		"users:\n- name: u\n  user:\n" + indent(user, 4) +
		"contexts:\n- name: x\n  context: {cluster: c, user: u, namespace: openunison}\n"
}

func indent(s string, n int) string {
	if s == "" {
		return strings.Repeat(" ", n) + "{}\n"
	}
	var b strings.Builder
	for line := range strings.SplitSeq(strings.TrimSuffix(s, "\n"), "\n") {
		b.WriteString(strings.Repeat(" ", n) + line + "\n")
	}
	return b.String()
}

const httpsCA = "server: https://kube.example:6443\ncertificate-authority-data: {{CA}}\n"

type loadCase struct {
	name string
	// files are written under the fixture's directory; the kubeconfig is
	// conf/kubeconfig unless KUBECONFIG lists files.
	files      map[string]string
	kubeconfig string // "": conf/kubeconfig; "-": none named (KUBECONFIG)
	env        []string
	context    string
	bad        string // a part of graceguard's error; "" for none
	// differs says why graceguard's answer differs from clientcmd's;
	// such a case checks graceguard's answer only.
	differs string
}

var loadCases = []loadCase{
	{name: "token over https with CA data", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "token: static-token")}},
	{name: "CA file relative to the kubeconfig", files: map[string]string{"conf/kubeconfig": kc("server: https://kube.example:6443\ncertificate-authority: ca.crt", "token: t")}},
	{name: "CA file with ..", files: map[string]string{"conf/kubeconfig": kc("server: https://kube.example:6443\ncertificate-authority: ../ca2.crt", "token: t")}},
	{name: "insecure and a server name", files: map[string]string{"conf/kubeconfig": kc("server: https://10.0.0.1:6443\ninsecure-skip-tls-verify: true\ntls-server-name: kube.internal", "token: t")}},
	{name: "YAML 1.1 yes", files: map[string]string{"conf/kubeconfig": kc("server: https://10.0.0.1:6443\ninsecure-skip-tls-verify: yes", "token: t")}},
	{name: "tokenFile alone", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "tokenFile: token")}},
	{name: "token and tokenFile", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "token: static\ntokenFile: token")}},
	{name: "client certificate data", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "client-certificate-data: {{CERT}}\nclient-key-data: {{KEY}}")}},
	{name: "client certificate files", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "client-certificate: ../client.crt\nclient-key: {{DIR}}/client.key")}},
	{name: "certificate file, key data", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "client-certificate: ../client.crt\nclient-key-data: {{KEY}}")}},
	{name: "basic auth", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "username: admin\npassword: s3cret")}},
	{name: "exec v1", files: map[string]string{"conf/kubeconfig": kc(httpsCA, `exec:
  apiVersion: client.authentication.k8s.io/v1
  command: ./bin/plugin
  args: [get-token, --cluster, c]
  env: [{name: AWS_PROFILE, value: prod}]
  interactiveMode: Never
  installHint: install it`)}},
	{name: "exec v1beta1 from PATH with cluster info", files: map[string]string{"conf/kubeconfig": kc(httpsCA+`proxy-url: http://proxy.example:3128
extensions:
- name: client.authentication.k8s.io/exec
  extension: {audience: kube, nested: {a: [1, 2]}}
- name: other
  extension: {x: 1}`, `exec:
  apiVersion: client.authentication.k8s.io/v1beta1
  command: kubelogin
  provideClusterInfo: true`)}},
	{name: "exec and a token", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "token: t\nexec: {apiVersion: client.authentication.k8s.io/v1, command: p, interactiveMode: IfAvailable}")}},
	{name: "impersonation", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "token: t\nas: jane\nas-uid: \"42\"\nas-groups: [dev, ops]\nas-user-extra: {scopes: [view]}")}},
	{name: "socks5 proxy", files: map[string]string{"conf/kubeconfig": kc(httpsCA+"proxy-url: socks5://proxy.example:1080", "token: t")}},
	{name: "proxy with a password", files: map[string]string{"conf/kubeconfig": kc(httpsCA+"proxy-url: http://u:pw@proxy.example:3128", "token: t")}},
	{name: "disable-compression", files: map[string]string{"conf/kubeconfig": kc(httpsCA+"disable-compression: true", "token: t")}},
	{name: "http: no credentials, no TLS", files: map[string]string{"conf/kubeconfig": kc("server: http://127.0.0.1:8080\ncertificate-authority-data: {{CA}}", "token: t\nas: jane")}},
	{name: "no scheme: http", files: map[string]string{"conf/kubeconfig": kc("server: 127.0.0.1:6443\ncertificate-authority-data: {{CA}}", "token: t")}},
	{name: "a path prefix, query dropped", files: map[string]string{"conf/kubeconfig": kc("server: https://rancher.example/k8s/clusters/c-1?x=1#f\ncertificate-authority-data: {{CA}}", "token: t")}},
	{name: "no namespace: default", files: map[string]string{"conf/kubeconfig": strings.Replace(kc(httpsCA, "token: t"), ", namespace: openunison", "", 1)}},
	{name: "a named context", context: "staging", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "token: t") +
		"- name: staging\n  context: {cluster: c, user: u, namespace: other}\n"}},
	{name: "a user that does not exist: anonymous", files: map[string]string{"conf/kubeconfig": strings.Replace(kc(httpsCA, "token: t"), "user: u,", "user: nobody,", 1)}},
	{name: "no user: anonymous", files: map[string]string{"conf/kubeconfig": strings.Replace(kc(httpsCA, "token: t"), "user: u,", "", 1)}},
	{name: "JSON", files: map[string]string{"conf/kubeconfig": `{"apiVersion":"v1","kind":"Config","current-context":"x",
"clusters":[{"name":"c","cluster":{"server":"https://kube.example","certificate-authority-data":"{{CA}}"}}],
"users":[{"name":"u","user":{"token":"json-token"}}],
"contexts":[{"name":"x","context":{"cluster":"c","user":"u"}}]}`}},
	{name: "no apiVersion or kind", files: map[string]string{"conf/kubeconfig": strings.Replace(kc(httpsCA, "token: t"), "apiVersion: v1\nkind: Config\n", "", 1)}},
	{name: "unknown fields", files: map[string]string{"conf/kubeconfig": kc(httpsCA+"future-field: 1", "token: t\nauth-future: {a: b}") + "preferences: {colors: true}\n"}},

	// $KUBECONFIG: the first file to name an entry or set current-context
	// wins, whole entries and never field by field.
	{name: "KUBECONFIG merge", kubeconfig: "-", env: []string{"a", "missing", "b", "a"}, files: map[string]string{
		"a": "current-context: x\nusers:\n- name: u\n  user: {token: from-a}\n",
		"b": kc(httpsCA, "token: from-b\nusername: ignored") + "- name: staging\n  context: {cluster: c, user: u}\n",
	}},
	{name: "KUBECONFIG: the first current-context", kubeconfig: "-", env: []string{"b", "a"}, files: map[string]string{
		"a": "current-context: staging\n",
		"b": strings.Replace(kc(httpsCA, "token: t"), "current-context: x\n", "", 1) + "- name: staging\n  context: {cluster: c, user: u, namespace: from-staging}\n",
	}},
	{name: "KUBECONFIG: a cluster from the first", kubeconfig: "-", env: []string{"a", "b"}, files: map[string]string{
		"a": "clusters:\n- name: c\n  cluster: {server: https://first.example, certificate-authority-data: {{CA2}}}\n",
		"b": kc(httpsCA, "token: t"),
	}},

	// Unusable: both refuse.
	{name: "no current-context", bad: "no current-context", files: map[string]string{"conf/kubeconfig": strings.Replace(kc(httpsCA, "token: t"), "current-context: x\n", "", 1)}},
	{name: "a current-context that does not exist", bad: "nope", files: map[string]string{"conf/kubeconfig": strings.Replace(kc(httpsCA, "token: t"), "current-context: x", "current-context: nope", 1)}},
	{name: "a context that does not exist", context: "prod", bad: `context "prod" does not exist`, files: map[string]string{"conf/kubeconfig": kc(httpsCA, "token: t")}},
	{name: "a cluster that does not exist", bad: `cluster "elsewhere" was not found`, files: map[string]string{"conf/kubeconfig": strings.Replace(kc(httpsCA, "token: t"), "cluster: c,", "cluster: elsewhere,", 1)}},
	{name: "no server", bad: `no server found for cluster "c"`, files: map[string]string{"conf/kubeconfig": kc("insecure-skip-tls-verify: true", "token: t")}},
	{name: "token and basic auth", bad: "more than one authentication method", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "token: t0ken-secret\nusername: a\npassword: pa55-secret")}},
	{name: "a certificate without a key", bad: "client-key-data or client-key must be specified", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "client-certificate-data: {{CERT}}")}},
	{name: "certificate data and file", bad: "client-certificate-data and client-certificate", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "client-certificate-data: {{CERT}}\nclient-certificate: ../client.crt\nclient-key-data: {{KEY}}")}},
	{name: "a key file that does not exist", bad: "unable to read client-key", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "client-certificate-data: {{CERT}}\nclient-key: nokey")}},
	{name: "a certificate that does not match its key", bad: "private key does not match", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "client-certificate-data: {{CERT}}\nclient-key-data: {{KEY}}")}},
	{name: "a CA file that does not exist", bad: "unable to read certificate-authority", files: map[string]string{"conf/kubeconfig": kc("server: https://k\ncertificate-authority: nothere.crt", "token: t")}},
	{name: "CA data and file", bad: "both specified", files: map[string]string{"conf/kubeconfig": kc(httpsCA+"certificate-authority: ca.crt", "token: t")}},
	{name: "CA and insecure", bad: "insecure flag is not allowed", files: map[string]string{"conf/kubeconfig": kc(httpsCA+"insecure-skip-tls-verify: true", "token: t")}},
	{name: "CA data that is not a certificate", bad: "unable to load root certificates", files: map[string]string{"conf/kubeconfig": kc("server: https://k\ncertificate-authority-data: bm90IGEgY2VydA==", "token: t")}},
	{name: "CA data that is not base64", bad: "certificate-authority-data", files: map[string]string{"conf/kubeconfig": kc("server: https://k\ncertificate-authority-data: '%%%'", "token: t")}},
	{name: "a token file that does not exist", bad: "unable to read tokenFile", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "tokenFile: missing")}},
	{name: "exec without a command", bad: "command must be specified", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "exec: {apiVersion: client.authentication.k8s.io/v1, interactiveMode: Never}")}},
	{name: "exec without an apiVersion", bad: "apiVersion must be specified", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "exec: {command: p}")}},
	{name: "exec v1alpha1", bad: "is not supported", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "exec: {command: p, apiVersion: client.authentication.k8s.io/v1alpha1}")}},
	{name: "exec v1 without interactiveMode", bad: "interactiveMode must be specified", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "exec: {command: p, apiVersion: client.authentication.k8s.io/v1}")}},
	{name: "exec with a bad interactiveMode", bad: "invalid interactiveMode", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "exec: {command: p, apiVersion: client.authentication.k8s.io/v1, interactiveMode: Sometimes}")}},
	{name: "exec env without a name", bad: "env variable name", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "exec: {command: p, apiVersion: client.authentication.k8s.io/v1beta1, env: [{value: x}]}")}},
	{name: "groups without a user", bad: "without impersonating a user", files: map[string]string{"conf/kubeconfig": kc(httpsCA, "token: t\nas-groups: [dev]")}},
	{name: "an ftp proxy", bad: "unsupported scheme", files: map[string]string{"conf/kubeconfig": kc(httpsCA+"proxy-url: ftp://p", "token: t")}},
	{name: "a user named twice", bad: `user "u" is defined twice`, files: map[string]string{"conf/kubeconfig": strings.Replace(kc(httpsCA, "token: first-secret"),
		"users:\n", "users:\n- name: u\n  user: {token: second-secret}\n", 1)}},
	{name: "auth-provider", bad: `auth-provider "oidc"`, files: map[string]string{"conf/kubeconfig": kc(httpsCA, "auth-provider: {name: oidc, config: {id-token: oidc-secret, refresh-token: refresh-secret}}")}},
	{name: "apiVersion v2", bad: "not a v1 Config", files: map[string]string{"conf/kubeconfig": strings.Replace(kc(httpsCA, "token: t"), "apiVersion: v1", "apiVersion: v2", 1)}},
	{name: "not YAML", bad: "not a kubeconfig", files: map[string]string{"conf/kubeconfig": "users: [token: {\n"}},
	{name: "a list where a map is due", bad: "not a kubeconfig", files: map[string]string{"conf/kubeconfig": "users: {u: {token: secret-in-a-map}}\n"}},
	{name: "the named file does not exist", kubeconfig: "conf/none", bad: "no such file", files: map[string]string{}},
	{name: "an empty file", bad: "no configuration has been provided", files: map[string]string{"conf/kubeconfig": ""}},
	{name: "KUBECONFIG files that do not exist", kubeconfig: "-", env: []string{"x", "y"}, bad: "no configuration has been provided", files: map[string]string{}},

	// Where graceguard answers otherwise, on purpose.
	{name: "certificate files that do not match", bad: "private key does not match", differs: "client-go reads certificate files at the first handshake; graceguard checks them at start-up",
		files: map[string]string{"conf/kubeconfig": kc(httpsCA, "client-certificate: ../client.crt\nclient-key: ../other.key")}},
	{name: "exec interactiveMode Always", bad: "needs a terminal", differs: "client-go runs such a plugin when stdin is a terminal; graceguard runs plugins without one",
		files: map[string]string{"conf/kubeconfig": kc(httpsCA, "exec: {command: p, apiVersion: client.authentication.k8s.io/v1, interactiveMode: Always}")}},
	{name: "a context named on", context: "on", differs: "YAML 1.1 reads an unquoted on, off, y, n, yes or no as a boolean, which client-go refuses for a name",
		files: map[string]string{"conf/kubeconfig": kc(httpsCA, "token: t") + "- name: on\n  context: {cluster: c, user: u}\n"}},
	{name: "an unquoted number as a token", differs: "YAML to JSON makes 12345 a number, which client-go refuses for a string",
		files: map[string]string{"conf/kubeconfig": kc(httpsCA, "token: 12345")}},
}

// Load resolves each kubeconfig of the table as clientcmd and client-go's
// rest package did (server, TLS settings, credentials, exec plugin,
// impersonation, proxy, namespace), and refuses those they refused.
func TestLoadMatchesClientcmd(t *testing.T) {
	for _, tt := range loadCases {
		t.Run(tt.name, func(t *testing.T) {
			noInCluster(t)
			f := newFixture(t)
			if tt.name == "a certificate that does not match its key" {
				f.key = pemKey(t)
			}
			if tt.name == "certificate files that do not match" {
				writeFile(t, filepath.Join(f.dir, "other.key"), pemKey(t))
			}
			for name, content := range tt.files {
				writeFile(t, filepath.Join(f.dir, name), []byte(f.expand(content)))
			}
			path := filepath.Join(f.dir, "conf", "kubeconfig")
			switch tt.kubeconfig {
			case "-":
				path = ""
				var list []string
				for _, e := range tt.env {
					list = append(list, filepath.Join(f.dir, e))
				}
				t.Setenv("KUBECONFIG", strings.Join(list, string(os.PathListSeparator)))
			case "":
			default:
				path = filepath.Join(f.dir, tt.kubeconfig)
			}
			cfg, ns, err := Load(path, tt.context)
			if tt.bad != "" {
				if err == nil || !strings.Contains(err.Error(), tt.bad) {
					t.Fatalf("error %v, want one with %q", err, tt.bad)
				}
				for _, secret := range []string{"secret", "t0ken", "pa55", "static"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("the error shows a credential: %v", err)
					}
				}
			} else if err != nil {
				t.Fatal(err)
			}
			old, oldNS, oldErr := loadWithClientcmd(path, tt.context)
			if tt.differs != "" {
				if (err == nil) == (oldErr == nil) {
					t.Errorf("said to differ (%s), but both agree: error %v, clientcmd's %v", tt.differs, err, oldErr)
				}
				return
			}
			if (err == nil) != (oldErr == nil) {
				t.Fatalf("error %v, but clientcmd's %v", err, oldErr)
			}
			if err != nil {
				return
			}
			got, want := viewOf(t, cfg, ns), viewOfRest(t, old, oldNS)
			if got != want {
				t.Errorf("got\n%+v\nclientcmd\n%+v", got, want)
			}
		})
	}
}

// pemKey is a fresh key that matches no certificate of the fixture.
func pemKey(t *testing.T) []byte {
	_, key := testcert.NewCA(t).Client(t, "other")
	return key
}

// Without --kubeconfig or $KUBECONFIG, outside a pod, ~/.kube/config is
// read.
func TestLoadHome(t *testing.T) {
	home := noInCluster(t)
	f := newFixture(t)
	writeFile(t, filepath.Join(home, ".kube", "config"), []byte(f.expand(kc(httpsCA, "token: home-token"))))
	cfg, ns, err := Load("", "")
	if err != nil || cfg.Token != "home-token" || ns != "openunison" {
		t.Fatalf("%v %q: %v", cfg, ns, err)
	}
	// Relative paths resolve against ~/.kube.
	writeFile(t, filepath.Join(home, ".kube", "token"), []byte("from-home\n"))
	writeFile(t, filepath.Join(home, ".kube", "config"), []byte(f.expand(kc(httpsCA, "tokenFile: token"))))
	if cfg, _, err = Load("", ""); err != nil || cfg.TokenFile != filepath.Join(home, ".kube", "token") || cfg.Token != "from-home" {
		t.Fatalf("%v: %v", cfg, err)
	}
}

// inCluster fakes a pod: the service variables and a service account
// directory with a token, the CA and a namespace.
func inCluster(t *testing.T, host, port string, ca []byte) string {
	t.Helper()
	noInCluster(t)
	dir := t.TempDir()
	old := serviceAccountDir
	serviceAccountDir = dir
	t.Cleanup(func() { serviceAccountDir = old })
	t.Setenv("KUBERNETES_SERVICE_HOST", host)
	t.Setenv("KUBERNETES_SERVICE_PORT", port)
	writeFile(t, filepath.Join(dir, "token"), []byte("sa-token-1"))
	writeFile(t, filepath.Join(dir, "ca.crt"), ca)
	writeFile(t, filepath.Join(dir, "namespace"), []byte("openunison\n"))
	return dir
}

func TestLoadInCluster(t *testing.T) {
	ca := testcert.NewCA(t).PEM
	t.Run("the service account", func(t *testing.T) {
		dir := inCluster(t, "fd00::1", "443", ca)
		cfg, ns, err := Load("", "")
		if err != nil {
			t.Fatal(err)
		}
		want := Config{Host: "https://[fd00::1]:443", CAData: ca, Token: "sa-token-1", TokenFile: filepath.Join(dir, "token")}
		if cfg.String() != want.String() || !bytes.Equal(cfg.CAData, ca) || cfg.Token != want.Token || ns != "openunison" {
			t.Errorf("%v %q, want %v", cfg, ns, want)
		}
	})
	t.Run("no namespace file: default", func(t *testing.T) {
		dir := inCluster(t, "10.0.0.1", "443", ca)
		os.Remove(filepath.Join(dir, "namespace"))
		if _, ns, err := Load("", ""); err != nil || ns != "default" {
			t.Errorf("%q: %v", ns, err)
		}
	})
	t.Run("a CA that is not one: the system's", func(t *testing.T) {
		inCluster(t, "10.0.0.1", "443", []byte("garbage"))
		if cfg, _, err := Load("", ""); err != nil || cfg.hasCA() {
			t.Errorf("%v: %v", cfg, err)
		}
	})
	t.Run("no token: an error", func(t *testing.T) {
		dir := inCluster(t, "10.0.0.1", "443", ca)
		os.Remove(filepath.Join(dir, "token"))
		if _, _, err := Load("", ""); err == nil || !strings.Contains(err.Error(), "in-cluster configuration") {
			t.Errorf("%v", err)
		}
	})
	t.Run("a named kubeconfig wins", func(t *testing.T) {
		inCluster(t, "10.0.0.1", "443", ca)
		f := newFixture(t)
		path := writeFile(t, filepath.Join(f.dir, "kc"), []byte(f.expand(kc(httpsCA, "token: kc-token"))))
		if cfg, _, err := Load(path, ""); err != nil || cfg.Token != "kc-token" {
			t.Errorf("%v: %v", cfg, err)
		}
		t.Setenv("KUBECONFIG", path)
		if cfg, _, err := Load("", ""); err != nil || cfg.Token != "kc-token" {
			t.Errorf("with KUBECONFIG: %v: %v", cfg, err)
		}
	})
	t.Run("KUBECONFIG files that do not exist: the service account", func(t *testing.T) {
		inCluster(t, "10.0.0.1", "443", ca)
		t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
		if cfg, _, err := Load("", ""); err != nil || cfg.Token != "sa-token-1" {
			t.Errorf("%v: %v", cfg, err)
		}
		// But not when a context is asked for.
		if _, _, err := Load("", "prod"); err == nil {
			t.Error("a context that no file names")
		}
	})
}

// A Config prints no credential, however it is formatted.
func TestConfigPrintsNoSecret(t *testing.T) {
	cfg := Config{
		Host: "https://user:host-secret@kube.example", Token: "token-secret", Username: "admin", Password: "password-secret",
		CertData: []byte("cert"), KeyData: []byte("key-secret"),
		Exec: &ExecConfig{Command: "plugin", Env: []string{"API_KEY=env-secret"}, Args: []string{"--key=arg-secret"}},
	}
	cfg.ProxyURL, _ = parseProxyURL("http://u:proxy-secret@proxy:3128")
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%v %+v %#v %s", &cfg, cfg, cfg, &cfg)} {
		if strings.Contains(s, "secret") {
			t.Errorf("a credential in %s", s)
		}
		if !strings.Contains(s, "kube.example") || !strings.Contains(s, "basic auth") {
			t.Errorf("%s says too little", s)
		}
	}
}

func TestSearchPath(t *testing.T) {
	noInCluster(t)
	t.Setenv("HOME", "/home/u")
	if got := searchPath(""); !slices.Equal(got, []string{"/home/u/.kube/config"}) {
		t.Errorf("%q", got)
	}
	t.Setenv("KUBECONFIG", "/a::/b:/a")
	if got := searchPath(""); !slices.Equal(got, []string{"/a", "/b"}) {
		t.Errorf("%q", got)
	}
	if got := searchPath("/x"); !slices.Equal(got, []string{"/x"}) {
		t.Errorf("%q", got)
	}
}
