package redistest

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"

	"github.com/graceguard/graceguard/internal/testcert"
)

// makeCerts writes a CA and a server certificate for 127.0.0.1 it signed,
// and sets the client side to trust that CA.
func (s *Server) makeCerts(t testing.TB) {
	t.Helper()
	ca := testcert.NewCA(t)
	cert, key := ca.Server(t)
	s.CAFile = filepath.Join(s.dir, "ca.pem")
	for path, data := range map[string][]byte{
		s.CAFile:                               ca.PEM,
		filepath.Join(s.dir, "server.pem"):     cert,
		filepath.Join(s.dir, "server-key.pem"): key,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.tls = &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
}
