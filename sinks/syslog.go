package sinks

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// SyslogOptions configure a Syslog sink.
type SyslogOptions struct {
	Network string // udp (default), tcp or tls
	Address string // host:port of the collector
	// TLS configures the tls network; nil verifies the collector against
	// the system's roots under the host name of Address.
	TLS      *tls.Config
	Facility string        // auth by default; see ParseFacility
	Hostname string        // this host as the collector sees it; os.Hostname by default
	AppName  string        // graceguard
	Timeout  time.Duration // dial and write; 10s
	// MaxUDPSize bounds a datagram; a bigger message drops the raw log
	// record first, and is cut as a last resort. 8192.
	MaxUDPSize int
}

// Syslog sends alerts to a collector as RFC 5424 messages: over UDP one
// datagram each (RFC 5426), over TCP or TLS with octet-counting framing
// (RFC 6587, RFC 5425). The message is the alert JSON, and the key fields
// are repeated as structured data for collectors that index those:
//
//	<34>1 2026-11-23T10:01:32.401Z host graceguard 4242 reuse-ip-mismatch [graceguard@32473 id="…" severity="high" …] {"id":…}
//
// 32473 is the private enterprise number RFC 5612 sets aside for
// documentation; graceguard has none of its own.
type Syslog struct {
	opt      SyslogOptions
	facility int
	pid      string
	mu       sync.Mutex
	conn     net.Conn
}

// syslogSDID names graceguard's structured-data element.
const syslogSDID = "graceguard@32473"

var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7, "uucp": 8,
	"cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "audit": 13, "alert": 14, "clock": 15,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// parseFacility reads a syslog facility name (auth, authpriv, local0…).
func parseFacility(name string) (int, error) {
	if name == "" {
		return facilities["auth"], nil
	}
	if f, ok := facilities[strings.ToLower(name)]; ok {
		return f, nil
	}
	return 0, fmt.Errorf("unknown syslog facility %q (auth, authpriv, daemon, local0 … local7, …)", name)
}

// syslogSeverity maps alert severities onto syslog's.
var syslogSeverity = map[alert.Severity]int{
	alert.Critical: 2, alert.High: 3, alert.Medium: 4, alert.Low: 5, alert.Info: 6,
}

// newSyslog checks opt and returns a Syslog sink; it connects on first use.
func newSyslog(opt SyslogOptions) (*Syslog, error) {
	if opt.Network == "" {
		opt.Network = "udp"
	}
	switch opt.Network {
	case "udp", "tcp", "tls":
	default:
		return nil, fmt.Errorf("syslog: network %q: want udp, tcp or tls", opt.Network)
	}
	if _, _, err := net.SplitHostPort(opt.Address); err != nil {
		return nil, fmt.Errorf("syslog: address %q: want host:port", opt.Address)
	}
	if opt.TLS != nil && opt.Network != "tls" {
		return nil, fmt.Errorf("syslog: TLS settings need network tls, not %s", opt.Network)
	}
	fac, err := parseFacility(opt.Facility)
	if err != nil {
		return nil, fmt.Errorf("syslog: %w", err)
	}
	if opt.Hostname == "" {
		opt.Hostname, _ = os.Hostname()
	}
	if opt.AppName == "" {
		opt.AppName = "graceguard"
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.MaxUDPSize <= 0 {
		opt.MaxUDPSize = 8192
	}
	return &Syslog{opt: opt, facility: fac, pid: strconv.Itoa(os.Getpid())}, nil
}

// String names the sink.
func (s *Syslog) String() string { return "syslog " + s.opt.Network + "://" + s.opt.Address }

// Send implements Sink. Over TCP and TLS the group goes in one write, so a
// failure sends none of it or (rarely, the connection dying mid-write) a
// prefix the retry repeats.
func (s *Syslog) Send(ctx context.Context, group []alert.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, err := s.connect(ctx)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(s.opt.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetWriteDeadline(deadline)
	// Cancelling ctx cuts a blocked write short.
	stop := context.AfterFunc(ctx, func() { conn.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()

	var buf bytes.Buffer
	for _, a := range group {
		msg, err := s.format(a)
		if err != nil {
			return err
		}
		if s.opt.Network == "udp" {
			if _, err := conn.Write(msg); err != nil {
				return s.fail(err)
			}
			continue
		}
		buf.WriteString(strconv.Itoa(len(msg)))
		buf.WriteByte(' ')
		buf.Write(msg)
	}
	if buf.Len() > 0 {
		if _, err := conn.Write(buf.Bytes()); err != nil {
			return s.fail(err)
		}
	}
	return nil
}

func (s *Syslog) fail(err error) error {
	s.conn.Close()
	s.conn = nil
	return fmt.Errorf("syslog %s://%s: %w", s.opt.Network, s.opt.Address, err)
}

// connect returns the open connection, or dials one. A stream whose
// collector hung up is noticed here (a read that does not time out), not
// after an alert was written into a dead socket.
func (s *Syslog) connect(ctx context.Context) (net.Conn, error) {
	if s.conn != nil && s.opt.Network != "udp" && peerClosed(s.conn) {
		s.conn.Close()
		s.conn = nil
	}
	if s.conn != nil {
		return s.conn, nil
	}
	d := &net.Dialer{Timeout: s.opt.Timeout}
	var (
		conn net.Conn
		err  error
	)
	switch s.opt.Network {
	case "tls":
		cfg := s.opt.TLS
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		conn, err = (&tls.Dialer{NetDialer: d, Config: cfg}).DialContext(ctx, "tcp", s.opt.Address)
	default:
		conn, err = d.DialContext(ctx, s.opt.Network, s.opt.Address)
	}
	if err != nil {
		return nil, fmt.Errorf("syslog %s://%s: %w", s.opt.Network, s.opt.Address, err)
	}
	s.conn = conn
	return conn, nil
}

// peerClosed reports whether the collector closed a stream: collectors
// never send, so a read that ends in anything but a timeout means gone.
func peerClosed(c net.Conn) bool {
	if err := c.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
		return true
	}
	defer c.SetReadDeadline(time.Time{})
	var b [1]byte
	_, err := c.Read(b[:])
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// format renders one RFC 5424 message (without framing).
func (s *Syslog) format(a alert.Alert) ([]byte, error) {
	body, err := a.MarshalJSON()
	if err != nil {
		return nil, permanent(fmt.Errorf("syslog: encode alert %s: %w", a.ID, err))
	}
	msg := s.frame(a, body)
	if s.opt.Network == "udp" && len(msg) > s.opt.MaxUDPSize {
		a.Raw = ""
		if body, err = a.MarshalJSON(); err == nil {
			msg = s.frame(a, body)
		}
		if len(msg) > s.opt.MaxUDPSize {
			msg = msg[:s.opt.MaxUDPSize]
		}
	}
	return msg, nil
}

func (s *Syslog) frame(a alert.Alert, body []byte) []byte {
	sev, ok := syslogSeverity[a.Severity]
	if !ok {
		sev = 6
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "<%d>1 %s %s %s %s %s ", s.facility*8+sev, a.Time.UTC().Format(alert.TimeFormat),
		header(s.opt.Hostname, 255), header(s.opt.AppName, 48), header(s.pid, 128), header(a.Rule, 32))
	b.WriteString("[" + syslogSDID)
	for _, p := range [][2]string{
		{"id", a.ID}, {"severity", a.Severity.String()}, {"rule", a.Rule}, {"user", a.User}, {"ip", a.IP},
		{"prev_ip", a.PrevIP}, {"session", a.Session}, {"idp", a.IdP}, {"source", a.Source},
	} {
		if p[1] != "" {
			b.WriteString(" " + p[0] + `="` + sdEscape(p[1]) + `"`)
		}
	}
	b.WriteString("] ")
	b.Write(body)
	return b.Bytes()
}

// header makes a RFC 5424 header field: printable US-ASCII without
// spaces, at most n bytes, "-" when empty.
func header(s string, n int) string {
	var b strings.Builder
	for _, c := range s {
		if c > 32 && c < 127 {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= n {
			break
		}
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}

// sdEscape escapes a structured-data value: '"', '\' and ']' (RFC 5424
// 6.3.3).
func sdEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(s)
}

// Close implements Sink.
func (s *Syslog) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// SyslogConfig is a syslog entry of the sinks: list.
type SyslogConfig struct {
	Network  string // udp (the default), tcp or tls
	Address  string
	TLS      *TLSConfig
	Facility string
	Hostname string
	AppName  string
	Timeout  time.Duration
}

// TLSConfig is a syslog sink's tls: mapping.
type TLSConfig struct {
	CAFile             string // PEM roots to verify the collector; the system's by default
	CertFile, KeyFile  string // a client certificate, for collectors that ask for one
	ServerName         string // the name to verify; the host of address by default
	InsecureSkipVerify bool   // for a lab only
}

func (s *SyslogConfig) keys(*Config) map[string]setting {
	return map[string]setting{
		"network":  strField(&s.Network),
		"address":  strField(&s.Address),
		"facility": strField(&s.Facility),
		"hostname": strField(&s.Hostname),
		"app_name": strField(&s.AppName),
		"timeout":  durField(&s.Timeout),
		"tls":      {set: func(d *decoder, n *yaml.Node, path string) { s.TLS = d.tls(n, path) }},
	}
}

func (s *SyslogConfig) validate() []string {
	var p []string
	if s.Network == "" {
		s.Network = "udp"
	}
	if !slices.Contains([]string{"udp", "tcp", "tls"}, s.Network) {
		p = append(p, fmt.Sprintf("network %q: want udp, tcp or tls", s.Network))
	}
	if _, _, err := net.SplitHostPort(s.Address); err != nil {
		p = append(p, fmt.Sprintf("address %q: want host:port", s.Address))
	}
	if s.TLS != nil && s.Network != "tls" {
		p = append(p, "tls settings need network: tls")
	}
	if s.TLS != nil && (s.TLS.CertFile == "") != (s.TLS.KeyFile == "") {
		p = append(p, "tls: cert_file and key_file go together")
	}
	if _, err := parseFacility(s.Facility); err != nil {
		p = append(p, err.Error())
	}
	return p
}

func (s *SyslogConfig) newSink() (Sink, error) {
	opt := SyslogOptions{Network: s.Network, Address: s.Address, Facility: s.Facility, Hostname: s.Hostname, AppName: s.AppName, Timeout: s.Timeout}
	if s.TLS != nil {
		var err error
		if opt.TLS, err = s.TLS.config(); err != nil {
			return nil, err
		}
	}
	return newSyslog(opt)
}

type syslogFlags struct{ addr string }

func (f *syslogFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.addr, "syslog-addr", "", "send RFC 5424 syslog to `ADDR` ([udp://|tcp://|tls://]host:port)")
}

func (f *syslogFlags) configs(minSev alert.Severity) ([]Config, []string) {
	if f.addr == "" {
		return nil, nil
	}
	network, addr := "udp", f.addr
	if scheme, rest, ok := strings.Cut(addr, "://"); ok {
		network, addr = scheme, rest
	}
	return []Config{{Type: TypeSyslog, Name: "syslog", Origin: "--syslog-addr", MinSeverity: minSev,
		Sink: &SyslogConfig{Network: network, Address: addr}}}, nil
}
func (d *decoder) tls(n *yaml.Node, path string) *TLSConfig {
	if n.Kind != yaml.MappingNode {
		d.errf(n, path, "want a mapping (ca_file, cert_file, key_file, server_name, insecure_skip_verify)")
		return nil
	}
	t := &TLSConfig{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := resolve(n.Content[i]), resolve(n.Content[i+1])
		kpath := path + "." + kn.Value
		var dst *string
		switch kn.Value {
		case "ca_file":
			dst = &t.CAFile
		case "cert_file":
			dst = &t.CertFile
		case "key_file":
			dst = &t.KeyFile
		case "server_name":
			dst = &t.ServerName
		case "insecure_skip_verify":
			t.InsecureSkipVerify, _ = d.boolean(vn, kpath)
			continue
		default:
			d.errf(kn, kpath, "unknown key (known: ca_file, cert_file, key_file, server_name, insecure_skip_verify)")
			continue
		}
		if s, ok := d.str(vn, kpath); ok {
			*dst = s
		}
	}
	return t
}

func (t *TLSConfig) config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: %s holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file/key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
