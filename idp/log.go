package idp

import (
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OpenUnison's log4j2 console layout is `[%d][%t] %-5p %c{1} - %m%n` with
// %d in `yyyy-MM-dd HH:mm:ss,SSS` and no zone. Go's layout below is the same
// shape; the image sets no TZ, so the bundled IdP writes UTC.
const log4jTime = "2006-01-02 15:04:05,000"

// Log levels as %-5p pads them.
const (
	levelInfo  = "INFO "
	levelWarn  = "WARN "
	levelError = "ERROR"
)

// Logger names as %c{1} prints them.
const (
	loggerAccess = "AccessLog"
	loggerOIDC   = "OpenIDConnectIdP"
)

// AccessLog events (com.tremolosecurity.log.AccessLog.AccessEvent).
const (
	eventAuSuccess = "AuSuccess"
	eventAuFail    = "AuFail"
	eventAzSuccess = "AzSuccess"
	eventAzFail    = "AzFail"
	eventNotFound  = "NotFound"
)

// AnonymousDN is the DN OpenUnison logs for requests without an
// authenticated user: discovery, JWKS and every failed token request.
const AnonymousDN = "uid=Anonymous,o=Tremolo"

// graceMessage is OpenIDConnectIdP's message for a grace-period reuse.
const graceMessage = "Expired token used within grace period"

// logLine is one log4j2 event; trace, when set, is the already formatted
// multi-line Java stack trace log4j2 prints after the message.
type logLine struct {
	level  string
	logger string
	msg    string
	trace  string
}

// Logger writes records in OpenUnison's layout. Lines that belong to one
// request (AzSuccess then ExpiredRefreshTokenUsed, WARN then AzFail) are
// written with a single Write so that concurrent requests cannot interleave
// between them; log4j2 does not promise that, but nothing in OpenUnison's
// semantics depends on interleaving and an adjacent pair is easier to read.
type Logger struct {
	mu    sync.Mutex
	w     io.Writer
	now   func() time.Time
	buf   []byte
	fails writeFailures
}

// newLogger returns a Logger writing to w; now is the clock (nil: time.Now).
func newLogger(w io.Writer, now func() time.Time, diag *slog.Logger) *Logger {
	if now == nil {
		now = time.Now
	}
	if w == nil {
		w = io.Discard
	}
	return &Logger{w: w, now: now, fails: writeFailures{log: "the OpenUnison log", diag: diag}}
}

// Err returns the first error a write returned. Logging never fails a
// request (OpenUnison's appender does not either); the first failure is
// said on Config.Diag when it happens, since the log is what a detector
// reads and a full disk would otherwise go unnoticed until the server
// stops, which reports this again.
func (l *Logger) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fails.err
}

func (l *Logger) write(thread string, lines ...logLine) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// The clock is read under the lock so that timestamps never go backwards
	// in the file, as they do not in a single log4j2 appender.
	t := l.now().UTC()
	b := l.buf[:0]
	for _, ln := range lines {
		b = appendLine(b, t, thread, ln)
	}
	if _, err := l.w.Write(b); err != nil {
		l.fails.note(err)
	}
	if cap(b) <= 64<<10 {
		l.buf = b
	}
}

// writeFailures keeps a log's first failed write and says it on diag when it
// happens: logging never fails a request (OpenUnison's appender does not
// either), but the log is what a detector reads, and a full disk would
// otherwise go unnoticed until the server stops. Its owner's lock guards it.
type writeFailures struct {
	log  string       // which log, for the message
	diag *slog.Logger // nil: no one to tell
	err  error
}

func (f *writeFailures) note(err error) {
	if f.err != nil {
		return
	}
	f.err = err
	if f.diag != nil {
		f.diag.Error("writing the log failed; its records are lost while it fails (said once)", "log", f.log, "err", err)
	}
}

func appendLine(b []byte, t time.Time, thread string, ln logLine) []byte {
	b = append(b, '[')
	b = t.AppendFormat(b, log4jTime)
	b = append(b, "]["...)
	b = append(b, thread...)
	b = append(b, "] "...)
	b = append(b, ln.level...)
	b = append(b, ' ')
	b = append(b, ln.logger...)
	b = append(b, " - "...)
	b = append(b, ln.msg...)
	b = append(b, '\n')
	if ln.trace != "" {
		b = append(b, ln.trace...)
	}
	return b
}

// accessMessage is AccessLog's message:
// `[EVENT] - APP - URL - DN - MESSAGE [IP] - [SESSION]`.
func accessMessage(event, app, url, dn, msg string, ip netip.Addr, session string) string {
	var b strings.Builder
	b.Grow(len(event) + len(app) + len(url) + len(dn) + len(msg) + len(session) + 64)
	b.WriteByte('[')
	b.WriteString(event)
	b.WriteString("] - ")
	b.WriteString(app)
	b.WriteString(" - ")
	b.WriteString(url)
	b.WriteString(" - ")
	b.WriteString(dn)
	b.WriteString(" - ")
	b.WriteString(msg)
	writeTail(&b, ip, session)
	return b.String()
}

// expiredMessage is OpenIDConnectIdP.logExpiredRefreshToken's message:
// `[ExpiredRefreshTokenUsed] - URL - DN - MESSAGE [IP] - [SESSION]`.
func expiredMessage(url, dn string, ip netip.Addr, session string) string {
	var b strings.Builder
	b.Grow(len(url) + len(dn) + len(graceMessage) + len(session) + 80)
	b.WriteString("[ExpiredRefreshTokenUsed] - ")
	b.WriteString(url)
	b.WriteString(" - ")
	b.WriteString(dn)
	b.WriteString(" - ")
	b.WriteString(graceMessage)
	writeTail(&b, ip, session)
	return b.String()
}

func writeTail(b *strings.Builder, ip netip.Addr, session string) {
	b.WriteString(" [")
	b.WriteString(javaAddr(ip))
	b.WriteString("] - [")
	if session == "" {
		session = "null"
	}
	b.WriteString(session)
	b.WriteByte(']')
}

// javaAddr prints an address as the servlet's getRemoteAddr does: Java's
// InetAddress.getHostAddress, which writes IPv6 as eight uncompressed hex
// groups (0:0:0:0:0:0:0:1) and an IPv4-mapped address as plain IPv4.
func javaAddr(ip netip.Addr) string {
	if !ip.IsValid() {
		return "null"
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	a := ip.As16()
	b := make([]byte, 0, 40)
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			b = append(b, ':')
		}
		b = strconv.AppendUint(b, uint64(a[i])<<8|uint64(a[i+1]), 16)
	}
	if z := ip.Zone(); z != "" {
		b = append(b, '%')
		b = append(b, z...)
	}
	return string(b)
}

// sanitize keeps a logged field on one line: request-controlled text (the
// Host header, the path) must not be able to forge a log record, which is
// exactly what a detector reading this log would trust.
func sanitize(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c == 0x7f {
			b[i] = '_'
		}
	}
	return string(b)
}

// couldNotRefreshTrace is the stack trace OpenUnison prints after "Could not
// refresh token" when a refresh_token cannot be inflated: the exception comes
// from OpenIDConnectIdP.inflate before any session is looked up. It is fixed
// text on purpose: a trace must never echo the presented token.
const couldNotRefreshTrace = "java.util.zip.ZipException: incorrect header check\n" +
	"\tat java.base/java.util.zip.InflaterInputStream.read(InflaterInputStream.java:165)\n" +
	"\tat java.base/java.io.FilterInputStream.read(FilterInputStream.java:106)\n" +
	"\tat com.tremolosecurity.idp.providers.OpenIDConnectIdP.inflate(OpenIDConnectIdP.java:2049)\n" +
	"\tat com.tremolosecurity.idp.providers.OpenIDConnectIdP.refreshToken(OpenIDConnectIdP.java:1093)\n" +
	"\tat com.tremolosecurity.idp.providers.OpenIDConnectIdP.doPost(OpenIDConnectIdP.java:517)\n" +
	"\tat com.tremolosecurity.idp.server.IDP.doPost(IDP.java:120)\n" +
	"\tat javax.servlet.http.HttpServlet.service(HttpServlet.java:681)\n" +
	"\tat javax.servlet.http.HttpServlet.service(HttpServlet.java:764)\n" +
	"\tat io.undertow.servlet.handlers.ServletHandler.handleRequest(ServletHandler.java:74)\n" +
	"\tat io.undertow.servlet.handlers.ServletInitialHandler.handleFirstRequest(ServletInitialHandler.java:275)\n" +
	"\tat io.undertow.server.Connectors.executeRootHandler(Connectors.java:393)\n" +
	"\tat io.undertow.server.HttpServerExchange$1.run(HttpServerExchange.java:859)\n" +
	"\tat org.jboss.threads.EnhancedQueueExecutor$Task.run(EnhancedQueueExecutor.java:2449)\n" +
	"\tat org.jboss.threads.EnhancedQueueExecutor$ThreadBody.run(EnhancedQueueExecutor.java:1478)\n" +
	"\tat org.xnio.XnioWorker$WorkerThreadFactory$1$1.run(XnioWorker.java:1282)\n" +
	"\tat java.base/java.lang.Thread.run(Thread.java:840)\n"
