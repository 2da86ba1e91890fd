// Package kubefake is a Kubernetes API server for tests (and for graceguard
// demo, which keeps the bundled IdP's sessions in it): it speaks, over
// real HTTP, the endpoints graceguard's kube source uses (list, get and
// watch pods, with label and field selectors, bookmarks and 410 Gone; a
// container's log with follow, timestamps, sinceTime, tailLines and
// previous) as the real API server and kubelet answer them, and lets a test
// write log lines, restart containers, rotate logs, delete pods, break
// streams, and hold back the watches or the API server's whole view of the
// pods while their containers and logs go on (a lagging watch, a kubelet
// that has not reported a restart yet). It
// also serves OpenUnison's session store, the OidcSession objects of the
// openunison.tremolo.io group (oidc.go).
//
// sinceTime is honoured as the API server does: it passes the time on to
// the kubelet formatted as RFC 3339 without fractions, and the kubelet
// sends the lines stamped at or after that second.
package kubefake

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/graceguard/graceguard/internal/kubeclient"
)

// Server is the fake API server. Its exported methods are safe from any
// goroutine.
type Server struct {
	*httptest.Server

	mu        sync.Mutex
	token     string // the bearer token requests must carry
	rv        int64
	pods      map[string]*pod // by namespace/name
	events    []event
	compacted int64 // watches from below this resource version get 410
	changed   chan struct{}
	logCut    int  // bumped by CutLogs: open log streams break
	cutAbrupt bool // how they break
	denyLogs  bool // DenyLogs: log requests get 403, as without get on pods/log
	denyGet   bool // DenyGetPod: a get of one pod gets 403, as with list and watch only
	watchGen  int  // bumped by ExpireWatches: open watches end
	errEvent  bool // 410 as an ERROR event rather than an HTTP status
	logReqs   []url.Values
	nextID    int
	// HoldWatches and HoldStatus: the watches send nothing; the pods'
	// status as the API server had it (by namespace/name) and the changes
	// it has not heard of yet.
	watchesHeld bool
	heldView    map[string]heldPod
	heldChanges []heldChange

	oidcOnce sync.Once
	oidcSt   *oidcState
}

type pod struct {
	namespace, name, uid string
	ip                   string // status.podIP; "" until SetPodIP
	labels               map[string]string
	containers           []*container
	rv                   int64
}

// heldPod is a pod as the API server had it when its status was held.
type heldPod struct {
	pod    *pod
	object []byte
}

type heldChange struct {
	typ string
	pod *pod
}

type container struct {
	name      string
	instances []*instance // oldest first; the last is the latest
}

type instance struct {
	id      string
	running bool
	gone    bool // its log was removed: requests for it fail
	started time.Time
	lines   []line
	rotated int // RotateLog: lines before this one are no longer served
}

type line struct {
	at   time.Time
	text string
}

type event struct {
	rv     int64
	typ    string
	ns     string
	name   string
	labels map[string]string
	object []byte
}

// New starts a server; t's cleanup closes it.
func New(t interface{ Cleanup(func()) }) *Server {
	s := &Server{token: "kubefake-token", pods: map[string]*pod{}, changed: make(chan struct{}), rv: 1000}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/pods", s.auth(s.handlePods))
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/pods/{name}", s.auth(s.handlePod))
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/pods/{name}/log", s.auth(s.handleLog))
	s.serveOidc(mux)
	// TLS: a kubeconfig's credentials are sent only over TLS; and
	// HTTP/2, as API servers speak it, many streams on one connection.
	s.Server = httptest.NewUnstartedServer(mux)
	s.EnableHTTP2 = true
	s.StartTLS()
	t.Cleanup(func() {
		s.mu.Lock()
		s.notifyLocked()
		s.mu.Unlock()
		s.Server.CloseClientConnections()
		s.Server.Close()
	})
	return s
}

// ClientConfig is a client configuration for this server and its token.
func (s *Server) ClientConfig() *kubeclient.Config {
	return &kubeclient.Config{Host: s.URL, Token: s.Token(), CAData: s.caPEM()}
}

func (s *Server) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
}

// Kubeconfig is a kubeconfig naming this server, its certificate, token and
// namespace.
func (s *Server) Kubeconfig(namespace string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: %s
    certificate-authority-data: %s
contexts:
- name: fake
  context:
    cluster: fake
    user: fake
    namespace: %s
current-context: fake
users:
- name: fake
  user:
    token: %s
`, s.URL, base64.StdEncoding.EncodeToString(s.caPEM()), namespace, s.Token())
}

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+s.Token() {
			writeStatus(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized")
			return
		}
		h(w, r)
	}
}

func writeStatus(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{
		"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": msg,
	})
}

// Token is the bearer token requests must carry.
func (s *Server) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// SetToken changes the token requests must carry.
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// SetPodIP sets a pod's status.podIP (and podIPs), as the kubelet does
// once the pod's network is up; watches see it MODIFIED.
func (s *Server) SetPodIP(namespace, name, ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pods[namespace+"/"+name]
	if p == nil {
		panic("kubefake: SetPodIP of unknown pod " + namespace + "/" + name)
	}
	p.ip = ip
	s.changeLocked("MODIFIED", p)
}

// AddPod adds a running pod whose containers each run one instance.
func (s *Server) AddPod(namespace, name string, labels map[string]string, containers ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &pod{namespace: namespace, name: name, uid: fmt.Sprintf("uid-%s-%d", name, s.rv), labels: labels}
	for _, c := range containers {
		p.containers = append(p.containers, &container{name: c, instances: []*instance{s.newInstanceLocked(c)}})
	}
	s.pods[namespace+"/"+name] = p
	s.changeLocked("ADDED", p)
}

func (s *Server) newInstanceLocked(c string) *instance {
	s.nextID++
	return &instance{id: fmt.Sprintf("containerd://%s-%04d", c, s.nextID), running: true, started: time.Now().UTC()}
}

// Log appends lines stamped at to a container's latest instance.
func (s *Server) Log(namespace, podName, containerName string, at time.Time, texts ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.containerLocked(namespace, podName, containerName).latest()
	for _, t := range texts {
		if strings.Contains(t, "\n") {
			panic("kubefake: a log line with a newline")
		}
		inst.lines = append(inst.lines, line{at: at, text: t})
	}
	s.notifyLocked()
}

// ContainerID is the id of a container's latest instance.
func (s *Server) ContainerID(namespace, podName, containerName string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.containerLocked(namespace, podName, containerName).latest().id
}

// Restart stops a container's latest instance and starts a new one.
func (s *Server) Restart(namespace, podName, containerName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.containerLocked(namespace, podName, containerName)
	c.latest().running = false
	c.instances = append(c.instances, s.newInstanceLocked(containerName))
	s.changeLocked("MODIFIED", s.pods[namespace+"/"+podName])
}

// Stop stops a container's latest instance; it is not restarted.
func (s *Server) Stop(namespace, podName, containerName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.containerLocked(namespace, podName, containerName).latest().running = false
	s.changeLocked("MODIFIED", s.pods[namespace+"/"+podName])
}

// LoseLog removes the log of the instance of a container before its
// latest, as a kubelet does when it cleans up: the pod's status still names
// it, but asking for it fails.
func (s *Server) LoseLog(namespace, podName, containerName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.containerLocked(namespace, podName, containerName)
	c.instances[len(c.instances)-2].gone = true
}

// DeletePod removes a pod: its logs are gone with it.
func (s *Server) DeletePod(namespace, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pods[namespace+"/"+name]
	for _, c := range p.containers {
		c.latest().running = false
	}
	delete(s.pods, namespace+"/"+name)
	s.changeLocked("DELETED", p)
}

// RotateLog rotates a container's latest instance's log file, as the
// kubelet does past containerLogMaxSize: a request made after it is served
// the lines written since, not those before (the kubelet serves only the
// current file).
func (s *Server) RotateLog(namespace, podName, containerName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.containerLocked(namespace, podName, containerName).latest()
	inst.rotated = len(inst.lines)
}

// HoldWatches makes the open watches send nothing (hold) until released,
// as a watch lagging behind the API server does: a list or get answers
// the pods as they are.
func (s *Server) HoldWatches(hold bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watchesHeld = hold
	s.notifyLocked()
}

// HoldStatus keeps the pods as the API server knows them (list, get and
// watch) as they are now, while their containers and logs go on (hold), as
// when the kubelet has restarted a container and not reported it yet;
// released, the API server hears of every change made meanwhile.
func (s *Server) HoldStatus(hold bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if hold {
		s.heldView = map[string]heldPod{}
		for k, p := range s.pods {
			obj, _ := json.Marshal(podJSON(p))
			s.heldView[k] = heldPod{pod: p, object: obj}
		}
		return
	}
	s.heldView = nil
	changes := s.heldChanges
	s.heldChanges = nil
	for _, c := range changes {
		s.changeLocked(c.typ, c.pod)
	}
}

// viewLocked is the pods as the API server knows them, by namespace/name.
func (s *Server) viewLocked() map[string]heldPod {
	if s.heldView != nil {
		return s.heldView
	}
	view := make(map[string]heldPod, len(s.pods))
	for k, p := range s.pods {
		obj, _ := json.Marshal(podJSON(p))
		view[k] = heldPod{pod: p, object: obj}
	}
	return view
}

// CutLogs breaks every open log stream: abruptly (half a line, then the
// connection drops) or as the API server ends a long stream (cleanly,
// between lines).
func (s *Server) CutLogs(abrupt bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logCut++
	s.cutAbrupt = abrupt
	s.notifyLocked()
}

// ExpireWatches ends the open watches and forgets the history before now,
// so a watch resumed from an older resource version gets 410 Gone, as an
// HTTP status or, with asEvent, as an ERROR event in the stream.
func (s *Server) ExpireWatches(asEvent bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rv++
	s.compacted = s.rv
	s.events = nil
	s.errEvent = asEvent
	s.watchGen++
	s.notifyLocked()
}

// LogRequests returns the query of every log request so far.
func (s *Server) LogRequests() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.logReqs)
}

func (s *Server) containerLocked(namespace, podName, name string) *container {
	p := s.pods[namespace+"/"+podName]
	if p == nil {
		panic("kubefake: no pod " + namespace + "/" + podName)
	}
	for _, c := range p.containers {
		if c.name == name {
			return c
		}
	}
	panic("kubefake: no container " + name)
}

func (c *container) latest() *instance { return c.instances[len(c.instances)-1] }

func (s *Server) changeLocked(typ string, p *pod) {
	if s.heldView != nil {
		s.heldChanges = append(s.heldChanges, heldChange{typ: typ, pod: p})
		s.notifyLocked()
		return
	}
	s.rv++
	p.rv = s.rv
	obj, _ := json.Marshal(podJSON(p))
	s.events = append(s.events, event{rv: s.rv, typ: typ, ns: p.namespace, name: p.name, labels: p.labels, object: obj})
	s.notifyLocked()
}

// notifyLocked wakes every handler waiting for a change.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// podJSON is a Pod as the API serves it, with the fields that matter here.
func podJSON(p *pod) map[string]any {
	var specs, statuses []any
	for _, c := range p.containers {
		specs = append(specs, map[string]any{"name": c.name, "image": "tremolosecurity/openunison-k8s"})
		latest := c.latest()
		st := map[string]any{
			"name": c.name, "containerID": latest.id, "image": "tremolosecurity/openunison-k8s",
			"restartCount": len(c.instances) - 1, "ready": latest.running,
			"state": state(latest), "lastState": map[string]any{},
		}
		if n := len(c.instances); n > 1 {
			st["lastState"] = state(c.instances[n-2])
		}
		statuses = append(statuses, st)
	}
	status := map[string]any{"phase": "Running", "containerStatuses": statuses}
	if p.ip != "" {
		status["podIP"] = p.ip
		status["podIPs"] = []any{map[string]any{"ip": p.ip}}
	}
	return map[string]any{
		"kind": "Pod", "apiVersion": "v1",
		"metadata": map[string]any{
			"name": p.name, "namespace": p.namespace, "uid": p.uid,
			"resourceVersion": strconv.FormatInt(p.rv, 10), "labels": p.labels,
		},
		"spec":   map[string]any{"containers": specs},
		"status": status,
	}
}

func state(i *instance) map[string]any {
	if i.running {
		return map[string]any{"running": map[string]any{"startedAt": i.started.Format(time.RFC3339)}}
	}
	return map[string]any{"terminated": map[string]any{
		"exitCode": 0, "reason": "Completed", "containerID": i.id,
		"startedAt": i.started.Format(time.RFC3339), "finishedAt": time.Now().UTC().Format(time.RFC3339),
	}}
}

// selector is a list's or watch's label and field selectors.
type selector struct {
	labels map[string]string
	name   string
}

func parseSelector(q url.Values) (selector, error) {
	sel := selector{labels: map[string]string{}}
	for _, term := range strings.Split(q.Get("labelSelector"), ",") {
		if term == "" {
			continue
		}
		k, v, ok := strings.Cut(strings.Replace(term, "==", "=", 1), "=")
		if !ok {
			return sel, fmt.Errorf("unsupported label selector %q", term)
		}
		sel.labels[k] = v
	}
	if f := q.Get("fieldSelector"); f != "" {
		name, ok := strings.CutPrefix(f, "metadata.name=")
		if !ok {
			return sel, fmt.Errorf("unsupported field selector %q", f)
		}
		sel.name = name
	}
	return sel, nil
}

func (sel selector) matches(name string, labels map[string]string) bool {
	if sel.name != "" && sel.name != name {
		return false
	}
	for k, v := range sel.labels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func (s *Server) handlePods(w http.ResponseWriter, r *http.Request) {
	ns, q := r.PathValue("ns"), r.URL.Query()
	sel, err := parseSelector(q)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	if q.Get("watch") == "1" || q.Get("watch") == "true" {
		s.watch(w, r, ns, sel)
		return
	}
	s.mu.Lock()
	items := []json.RawMessage{}
	view := s.viewLocked()
	names := make([]string, 0, len(view))
	for k := range view {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		p := view[k]
		if p.pod.namespace == ns && sel.matches(p.pod.name, p.pod.labels) {
			items = append(items, p.object)
		}
	}
	rv := s.rv
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"kind": "PodList", "apiVersion": "v1",
		"metadata": map[string]any{"resourceVersion": strconv.FormatInt(rv, 10)},
		"items":    items,
	})
}

// DenyGetPod makes a get of one pod fail with 403 Forbidden (deny) or
// answer again, as an API server does for a role with list and watch on
// pods but not get.
func (s *Server) DenyGetPod(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denyGet = deny
}

// handlePod answers a get of one pod.
func (s *Server) handlePod(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	s.mu.Lock()
	p, ok := s.viewLocked()[ns+"/"+name]
	denied := s.denyGet
	s.mu.Unlock()
	if denied {
		writeStatus(w, http.StatusForbidden, "Forbidden", `pods "`+name+`" is forbidden: User "system:serviceaccount:graceguard:graceguard" cannot get resource "pods" in API group "" in the namespace "`+ns+`"`)
		return
	}
	if !ok {
		writeStatus(w, http.StatusNotFound, "NotFound", fmt.Sprintf("pods %q not found", name))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(p.object)
}

func (s *Server) watch(w http.ResponseWriter, r *http.Request, ns string, sel selector) {
	q := r.URL.Query()
	from, err := strconv.ParseInt(q.Get("resourceVersion"), 10, 64)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, "BadRequest", "resourceVersion: "+err.Error())
		return
	}
	bookmarks := q.Get("allowWatchBookmarks") == "true"
	timeout := time.Hour
	if n, err := strconv.Atoi(q.Get("timeoutSeconds")); err == nil && n > 0 {
		timeout = time.Duration(n) * time.Second
	}
	s.mu.Lock()
	if from < s.compacted {
		errEvent := s.errEvent
		s.mu.Unlock()
		if !errEvent {
			writeStatus(w, http.StatusGone, "Expired", "too old resource version")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"type": "ERROR", "object": map[string]any{
			"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410, "reason": "Expired", "message": "too old resource version",
		}})
		return
	}
	gen := s.watchGen
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flush := w.(http.Flusher)
	flush.Flush()
	end := time.After(timeout)
	for {
		s.mu.Lock()
		var out [][]byte
		if s.watchesHeld {
			changed := s.changed
			s.mu.Unlock()
			select {
			case <-changed:
				continue
			case <-end:
				return
			case <-r.Context().Done():
				return
			}
		}
		for _, ev := range s.events {
			if ev.rv > from && ev.ns == ns && sel.matches(ev.name, ev.labels) {
				out = append(out, []byte(fmt.Sprintf(`{"type":%q,"object":%s}`, ev.typ, ev.object)))
			}
		}
		if len(out) == 0 && bookmarks && s.rv > from {
			out = append(out, []byte(fmt.Sprintf(`{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"%d"}}}`, s.rv)))
		}
		from = max(from, s.rv)
		changed, expired := s.changed, s.watchGen != gen
		s.mu.Unlock()
		if expired {
			return
		}
		for _, o := range out {
			w.Write(append(o, '\n'))
		}
		flush.Flush()
		select {
		case <-changed:
		case <-end:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// DenyLogs makes log requests fail with 403 Forbidden (deny) or answer
// again, as an API server does for a role without get on pods/log.
func (s *Server) DenyLogs(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denyLogs = deny
}

func (s *Server) handleLog(w http.ResponseWriter, r *http.Request) {
	ns, name, q := r.PathValue("ns"), r.PathValue("name"), r.URL.Query()
	s.mu.Lock()
	s.logReqs = append(s.logReqs, q)
	if s.denyLogs {
		s.mu.Unlock()
		writeStatus(w, http.StatusForbidden, "Forbidden", `pods "`+name+`" is forbidden: User "system:serviceaccount:graceguard:graceguard" cannot get resource "pods/log" in API group "" in the namespace "`+ns+`"`)
		return
	}
	inst, status, msg := s.findInstanceLocked(ns, name, q.Get("container"), q.Get("previous") == "true")
	cut := s.logCut
	s.mu.Unlock()
	if inst == nil {
		writeStatus(w, status, http.StatusText(status), msg)
		return
	}
	var since time.Time
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeStatus(w, http.StatusBadRequest, "BadRequest", "sinceTime: "+err.Error())
			return
		}
		// The API server hands the kubelet sinceTime.Format(time.RFC3339).
		since = t.Truncate(time.Second)
	}
	s.mu.Lock()
	next := inst.rotated // the next line of inst.lines to consider
	for next < len(inst.lines) && inst.lines[next].at.Before(since) {
		next++
	}
	if v := q.Get("tailLines"); v != "" {
		n, _ := strconv.Atoi(v)
		next = max(next, len(inst.lines)-n)
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	flush := w.(http.Flusher)
	flush.Flush()
	follow, stamps := q.Get("follow") == "true", q.Get("timestamps") == "true"
	for {
		s.mu.Lock()
		var b strings.Builder
		for ; next < len(inst.lines); next++ {
			l := inst.lines[next]
			if l.at.Before(since) {
				continue
			}
			if stamps {
				b.WriteString(l.at.UTC().Format(time.RFC3339Nano) + " ")
			}
			b.WriteString(l.text + "\n")
		}
		running, changed, cutNow, abrupt := inst.running, s.changed, s.logCut != cut, s.cutAbrupt
		s.mu.Unlock()
		w.Write([]byte(b.String()))
		flush.Flush()
		if cutNow {
			if abrupt {
				w.Write([]byte("2026-11-23T10:00:00.5Z half a li"))
				flush.Flush()
				panic(http.ErrAbortHandler)
			}
			return
		}
		if !follow || !running {
			return
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}

// findInstanceLocked picks the instance a log request names, as the
// kubelet does: the latest, or with previous the one before it.
func (s *Server) findInstanceLocked(ns, name, containerName string, previous bool) (*instance, int, string) {
	p := s.pods[ns+"/"+name]
	if p == nil {
		return nil, http.StatusNotFound, fmt.Sprintf("pods %q not found", name)
	}
	for _, c := range p.containers {
		if c.name != containerName {
			continue
		}
		if !previous {
			return c.latest(), 0, ""
		}
		if len(c.instances) < 2 {
			return nil, http.StatusBadRequest, fmt.Sprintf("previous terminated container %q in pod %q not found", containerName, name)
		}
		if prev := c.instances[len(c.instances)-2]; !prev.gone {
			return prev, 0, ""
		}
		return nil, http.StatusNotFound, "log not found"
	}
	return nil, http.StatusBadRequest, fmt.Sprintf("container %s is not valid for pod %s", containerName, name)
}
