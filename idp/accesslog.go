package idp

import (
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// nginxTimeLocal is nginx's $time_local layout.
const nginxTimeLocal = "02/Jan/2006:15:04:05 -0700"

// accessLog writes ingress-nginx's default log-format-upstream:
//
//	$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_length $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] $upstream_addr $upstream_response_length $upstream_response_time $upstream_status $req_id
//
// one Write per line, so that concurrent requests never interleave.
type accessLog struct {
	mu    sync.Mutex
	w     io.Writer
	fails writeFailures
}

func newAccessLog(w io.Writer, diag *slog.Logger) *accessLog {
	if w == nil {
		w = io.Discard
	}
	return &accessLog{w: w, fails: writeFailures{log: "the proxy's access log", diag: diag}}
}

func (l *accessLog) write(line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(line); err != nil {
		l.fails.note(err)
	}
}

// Err is the first error a write returned.
func (l *accessLog) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fails.err
}

// line builds one request's record. nginx writes it when the request ends,
// so $time_local is the end, to the second.
func (p *Proxy) line(r *http.Request, w *countingWriter, ex *proxyExchange, reqBody int64, start, end time.Time) []byte {
	status := w.status
	if status == 0 {
		status = 499 // nginx's code for a client that went away before the answer
	}
	user, _, _ := r.BasicAuth()
	ex.mu.Lock()
	upstream, upStatus, upBytes, upTime := ex.upstream, ex.upStatus, ex.upBodyBytes, ex.upEnd.Sub(ex.upStart)
	if ex.upEnd.IsZero() {
		upTime = 0
	}
	ex.mu.Unlock()

	b := make([]byte, 0, 320)
	if c := ex.client; c.IsValid() {
		// nginx prints no zone, and a zone is nothing graceguard can judge.
		b = c.WithZone("").AppendTo(b)
	} else {
		// A peer with no address (a unix socket): Go would write "invalid
		// IP", which leaves the line unreadable and the request unseen;
		// "-" is a record that names no client, which is what it is.
		b = append(b, '-')
	}
	b = append(b, " - "...)
	b = appendNginxValue(b, user)
	b = append(b, " ["...)
	b = end.AppendFormat(b, nginxTimeLocal)
	b = append(b, "] \""...)
	b = appendNginxValue(b, r.Method+" "+r.RequestURI+" "+r.Proto)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, w.n, 10)
	b = append(b, " \""...)
	b = appendNginxValue(b, r.Referer())
	b = append(b, "\" \""...)
	b = appendNginxValue(b, r.UserAgent())
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, requestLength(r, reqBody), 10)
	b = append(b, ' ')
	b = appendSeconds(b, end.Sub(start))
	b = append(b, " ["...)
	b = append(b, p.cfg.UpstreamName...)
	b = append(b, "] [] "...)
	if upstream == "" {
		b = append(b, "- - - -"...)
	} else {
		b = append(b, upstream...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, upBytes, 10)
		b = append(b, ' ')
		b = appendSeconds(b, upTime)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(upStatus), 10)
	}
	b = append(b, ' ')
	b = append(b, ex.reqID...)
	return append(b, '\n')
}

// requestLength is nginx's $request_length: request line, headers and body
// as received (HTTP/1.1 framing).
func requestLength(r *http.Request, body int64) int64 {
	n := int64(len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2)
	n += int64(len("Host: ") + len(r.Host) + 2)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += int64(len(k) + 2 + len(v) + 2)
		}
	}
	return n + 2 + body
}

// appendSeconds writes a duration as nginx does: seconds with milliseconds.
func appendSeconds(b []byte, d time.Duration) []byte {
	ms := max(d.Milliseconds(), 0)
	b = strconv.AppendInt(b, ms/1000, 10)
	b = append(b, '.')
	frac := ms % 1000
	if frac < 100 {
		b = append(b, '0')
	}
	if frac < 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, frac, 10)
}

// appendNginxValue writes a variable as nginx's default log escaping does:
// `"`, `\` and bytes outside 0x20-0x7e as \xHH; an empty value as "-".
func appendNginxValue(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' || c < 0x20 || c > 0x7e {
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
			continue
		}
		b = append(b, c)
	}
	return b
}
