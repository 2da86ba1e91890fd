package sinks

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graceguard/graceguard/alert"
	"github.com/graceguard/graceguard/internal/testcert"
	"github.com/graceguard/graceguard/internal/testsync"
)

// collector is a syslog receiver on a real socket: UDP datagrams, or
// octet-counted frames over TCP or TLS.
type collector struct {
	mu    sync.Mutex
	msgs  []string
	addr  string
	ln    net.Listener
	conns []net.Conn
}

func (c *collector) add(m string) {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
}

func (c *collector) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.msgs...)
}

// dropConnections closes the collector's side of every stream, as a
// collector restart would.
func (c *collector) dropConnections() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

func newCollector(t *testing.T, network string, cfg *tls.Config) *collector {
	c := &collector{}
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		c.addr = pc.LocalAddr().String()
		go func() {
			buf := make([]byte, 65536)
			for {
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				c.add(string(buf[:n]))
			}
		}()
		return c
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	t.Cleanup(func() { ln.Close(); c.dropConnections() })
	c.addr, c.ln = ln.Addr().String(), ln
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.conns = append(c.conns, conn)
			c.mu.Unlock()
			go c.readFrames(conn)
		}
	}()
	return c
}

// readFrames reads RFC 6587 octet counting: "LEN SP MSG".
func (c *collector) readFrames(conn net.Conn) {
	r := bufio.NewReader(conn)
	for {
		lenText, err := r.ReadString(' ')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSuffix(lenText, " "))
		if err != nil {
			c.add("BAD FRAME " + lenText)
			return
		}
		buf := make([]byte, n)
		if _, err := ioReadFull(r, buf); err != nil {
			return
		}
		c.add(string(buf))
	}
}

func ioReadFull(r *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// rfc5424 matches a message: PRI, version 1, timestamp, host, app, procid,
// msgid, structured data, then the message.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (\[graceguard@32473(?: [a-z_]+="(?:[^"\\\]]|\\.)*")*\]) (.*)$`)

func checkMessage(t *testing.T, msg string, a alert.Alert, wantPRI int) {
	t.Helper()
	m := rfc5424.FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("not an RFC 5424 message from graceguard: %q", msg)
	}
	if pri, _ := strconv.Atoi(m[1]); pri != wantPRI {
		t.Errorf("PRI %s, want %d", m[1], wantPRI)
	}
	if m[2] != "2026-11-23T10:01:32.401Z" || m[3] != "gg-host" || m[4] != "graceguard" || m[6] != a.Rule {
		t.Errorf("header %q", m[1:7])
	}
	if !strings.Contains(m[7], `id="`+a.ID+`"`) || !strings.Contains(m[7], `user="`+a.User+`"`) {
		t.Errorf("structured data %s", m[7])
	}
	var got alert.Alert
	if err := json.Unmarshal([]byte(m[8]), &got); err != nil || got.ID != a.ID {
		t.Errorf("message is not the alert JSON: %v %q", err, m[8])
	}
}

// selfSigned is a TLS server config with a certificate for collector.test
// and 127.0.0.1, and the roots that trust it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	ca := testcert.NewCA(t)
	return &tls.Config{Certificates: []tls.Certificate{ca.ServerTLS(t, "collector.test")}}, ca.Pool()
}

func TestSyslogOverEachTransport(t *testing.T) {
	t.Parallel()
	serverTLS, roots := selfSigned(t)
	for _, network := range []string{"udp", "tcp", "tls"} {
		t.Run(network, func(t *testing.T) {
			var cfg *tls.Config
			if network == "tls" {
				cfg = serverTLS
			}
			c := newCollector(t, network, cfg)
			opt := SyslogOptions{Network: network, Address: c.addr, Hostname: "gg-host", Facility: "authpriv"}
			if network == "tls" {
				opt.TLS = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
			}
			s, err := newSyslog(opt)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(context.Background())
			group := replayGroup()
			if err := s.Send(context.Background(), group); err != nil {
				t.Fatal(err)
			}
			testsync.WaitFor(t, "two messages", func() bool { return len(c.list()) == 2 })
			msgs := c.list()
			// authpriv (10) × 8 + crit (2); + err (3) for high.
			checkMessage(t, msgs[0], group[0], 82)
			checkMessage(t, msgs[1], group[1], 83)
		})
	}
}

func TestSyslogReconnectsAfterCollectorRestart(t *testing.T) {
	t.Parallel()
	c := newCollector(t, "tcp", nil)
	s, err := newSyslog(SyslogOptions{Network: "tcp", Address: c.addr, Hostname: "gg-host"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	for i := range 3 {
		if i == 1 {
			testsync.WaitFor(t, "the first message", func() bool { return len(c.list()) == 1 })
			c.dropConnections()
			time.Sleep(20 * time.Millisecond)
		}
		a := replay()
		a.ID = fmt.Sprintf("after-%d", i)
		if err := s.Send(context.Background(), []alert.Alert{a}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	testsync.WaitFor(t, "three messages", func() bool { return len(c.list()) == 3 })
}

func TestSyslogTLSRefusesAnUnknownCollector(t *testing.T) {
	t.Parallel()
	serverTLS, _ := selfSigned(t)
	c := newCollector(t, "tcp", serverTLS)
	// The refusal comes at the handshake; the timeout is only for a hang
	// (1 s ran out first beside the package's parallel tests, loaded).
	s, err := newSyslog(SyslogOptions{Network: "tls", Address: c.addr, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), []alert.Alert{replay()})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("err = %v, want a certificate error", err)
	}
}

func TestSyslogDownIsRetried(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens
	s, err := newSyslog(SyslogOptions{Network: "tcp", Address: addr, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), []alert.Alert{replay()})
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v", err)
	}
	if v, _ := classify(err); v != retryLater {
		t.Errorf("classified %v", v)
	}
}

func TestSyslogUDPStaysUnderMaxSize(t *testing.T) {
	t.Parallel()
	c := newCollector(t, "udp", nil)
	s, err := newSyslog(SyslogOptions{Address: c.addr, Hostname: "gg-host", MaxUDPSize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	a := replay()
	a.Raw = strings.Repeat("x", 5000)
	if err := s.Send(context.Background(), []alert.Alert{a}); err != nil {
		t.Fatal(err)
	}
	testsync.WaitFor(t, "the datagram", func() bool { return len(c.list()) == 1 })
	msg := c.list()[0]
	if len(msg) > 2048 {
		t.Errorf("datagram of %d bytes", len(msg))
	}
	a.Raw = ""
	checkMessage(t, msg, a, 4*8+3) // auth, err
}

func TestSyslogFormatEscapesStructuredData(t *testing.T) {
	t.Parallel()
	s, _ := newSyslog(SyslogOptions{Address: "127.0.0.1:514", Hostname: "gg host\n", AppName: "graceguard"})
	a := plain("x")
	a.User = `uid=a"b]c\d,o=T`
	a.Rule = "a-rule-name-that-is-much-longer-than-thirty-two-characters"
	msg, err := s.format(a)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(msg), `user="uid=a\"b\]c\\d,o=T"`) || !strings.Contains(string(msg), " gg_host_ ") ||
		!strings.Contains(string(msg), " a-rule-name-that-is-much-longer- [") {
		t.Errorf("%s", msg)
	}
}

func TestSyslogOptionsChecked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		opt  SyslogOptions
		want string
	}{
		{SyslogOptions{Network: "sctp", Address: "h:1"}, "want udp, tcp or tls"},
		{SyslogOptions{Address: "no-port"}, "want host:port"},
		{SyslogOptions{Address: "h:1", Facility: "nope"}, "unknown syslog facility"},
		{SyslogOptions{Network: "tcp", Address: "h:1", TLS: &tls.Config{}}, "need network tls"},
	}
	for _, tt := range tests {
		if _, err := newSyslog(tt.opt); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewSyslog(%+v) = %v, want %q", tt.opt, err, tt.want)
		}
	}
}
