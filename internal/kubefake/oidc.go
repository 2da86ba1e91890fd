package kubefake

// OpenUnison's Kubernetes session store: OidcSession objects of the
// openunison.tremolo.io group, served at the paths and in the shapes the
// real API server serves a custom resource: discovery, list and
// deletecollection with a label selector (both also as
// PartialObjectMetadataList), get, create and delete.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OidcGroup is OpenUnison's API group.
const OidcGroup = "openunison.tremolo.io"

// OidcRequest is one request to the openunison.tremolo.io group, as served.
type OidcRequest struct {
	Method, Path, Query, Accept string
	Status                      int
	At                          time.Time // when it came
}

type oidcState struct {
	mu        sync.Mutex
	preferred string
	versions  []string
	sessions  map[string]*oidcSession // by namespace/name
	failNext  int
	failCode  int
	failAfter int      // Retry-After of the failures, in seconds; 0: none
	denied    []string // verbs DenyOidc refuses
	reqs      []OidcRequest
}

type oidcSession struct {
	ns, name string
	labels   map[string]string
	spec     map[string]any
	rv       int64
	uid      string
}

// oidc is the session store, made on first use so New stays as it was.
func (s *Server) oidc() *oidcState {
	s.oidcOnce.Do(func() {
		s.oidcSt = &oidcState{preferred: "v2", versions: []string{"v2", "v1"}, sessions: map[string]*oidcSession{}}
	})
	return s.oidcSt
}

// serveOidc adds the group's routes to mux.
func (s *Server) serveOidc(mux *http.ServeMux) {
	mux.HandleFunc("GET /apis", s.auth(s.oidcRecord(s.handleAPIs)))
	mux.HandleFunc("GET /apis/"+OidcGroup, s.auth(s.oidcRecord(s.handleGroup)))
	coll := "/apis/" + OidcGroup + "/{v}/namespaces/{ns}/oidc-sessions"
	mux.HandleFunc("GET "+coll, s.auth(s.oidcRecord(s.allowed("list", s.served(s.handleOidcList)))))
	mux.HandleFunc("POST "+coll, s.auth(s.oidcRecord(s.allowed("create", s.served(s.handleOidcCreate)))))
	mux.HandleFunc("DELETE "+coll, s.auth(s.oidcRecord(s.allowed("deletecollection", s.served(s.handleOidcDeleteCollection)))))
	mux.HandleFunc("GET "+coll+"/{name}", s.auth(s.oidcRecord(s.allowed("get", s.served(s.handleOidcGet)))))
	mux.HandleFunc("DELETE "+coll+"/{name}", s.auth(s.oidcRecord(s.allowed("delete", s.served(s.handleOidcDelete)))))
}

// DenyOidc makes requests for oidc-sessions with these verbs (list, get,
// create, delete, deletecollection) get 403 Forbidden, as the API server
// answers a service account whose Role lacks them; none: all allowed.
func (s *Server) DenyOidc(verbs ...string) {
	o := s.oidc()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.denied = slices.Clone(verbs)
}

// allowed answers 403 for a verb DenyOidc denied, as RBAC does: before
// the request reaches the resource, whether its version is served or not.
func (s *Server) allowed(verb string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		o := s.oidc()
		o.mu.Lock()
		denied := slices.Contains(o.denied, verb)
		o.mu.Unlock()
		if !denied {
			h(w, r)
			return
		}
		what := "oidc-sessions." + OidcGroup
		if name := r.PathValue("name"); name != "" {
			what += ` "` + name + `"`
		}
		writeStatus(w, http.StatusForbidden, "Forbidden", what+` is forbidden: User "system:serviceaccount:graceguard:graceguard" cannot `+verb+
			` resource "oidc-sessions" in API group "`+OidcGroup+`" in the namespace "`+r.PathValue("ns")+`"`)
	}
}

// SetOidcVersions sets the versions of openunison.tremolo.io served and
// the one discovery prefers (v2 and v1, preferring v2, by default).
func (s *Server) SetOidcVersions(preferred string, served ...string) {
	o := s.oidc()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.preferred, o.versions = preferred, served
}

// FailOidc makes the next n requests to openunison.tremolo.io (discovery
// included) fail with code, as an API server does when it is overloaded or
// its storage is down.
func (s *Server) FailOidc(n, code int) {
	o := s.oidc()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failNext, o.failCode, o.failAfter = n, code, 0
}

// ThrottleOidc makes the next n requests to openunison.tremolo.io fail
// with 429 Too Many Requests and "Retry-After: seconds", as the API
// server's max-in-flight and priority-and-fairness filters refuse a
// request when it is overloaded (they ask for 1 second).
func (s *Server) ThrottleOidc(n, seconds int) {
	o := s.oidc()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failNext, o.failCode, o.failAfter = n, http.StatusTooManyRequests, seconds
}

// OidcRequests returns the requests to the group so far.
func (s *Server) OidcRequests() []OidcRequest {
	o := s.oidc()
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.reqs)
}

// AddOidcSession stores an OidcSession as OpenUnison writes one: named
// x<id>x, labelled with the SHA-1 of the user's DN, its spec holding
// tokens (secret) as well as the ids.
func (s *Server) AddOidcSession(namespace, id, userDNHash, clientID, secretToken string) {
	o := s.oidc()
	o.mu.Lock()
	defer o.mu.Unlock()
	s.addOidcLocked(o, &oidcSession{
		ns: namespace, name: "x" + id + "x", labels: map[string]string{"tremolo.io/user-dn": userDNHash},
		spec: map[string]any{
			"session_id": id, "client_id": clientID, "user_dn": userDNHash, "expires": "2026-12-31T00:00:00Z",
			"encrypted_id_token": secretToken, "encrypted_refresh_token": secretToken,
		},
	})
}

func (s *Server) addOidcLocked(o *oidcState, sess *oidcSession) {
	s.mu.Lock()
	s.rv++
	sess.rv = s.rv
	s.mu.Unlock()
	sess.uid = fmt.Sprintf("uid-%s-%d", sess.name, sess.rv)
	o.sessions[sess.ns+"/"+sess.name] = sess
}

// OidcSessions returns the names of a namespace's OidcSession objects, sorted.
func (s *Server) OidcSessions(namespace string) []string {
	o := s.oidc()
	o.mu.Lock()
	defer o.mu.Unlock()
	var names []string
	for _, sess := range o.sessions {
		if sess.ns == namespace {
			names = append(names, sess.name)
		}
	}
	slices.Sort(names)
	return names
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// oidcRecord records a request and serves the failures FailOidc asked for.
func (s *Server) oidcRecord(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		o := s.oidc()
		o.mu.Lock()
		fail, code, after := o.failNext > 0, o.failCode, o.failAfter
		if fail {
			o.failNext--
		}
		o.mu.Unlock()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		switch {
		case fail && code == http.StatusTooManyRequests && after > 0:
			writeTooManyRequests(rec, after)
		case fail:
			writeStatus(rec, code, http.StatusText(code), "kubefake: failing as asked")
		default:
			h(rec, r)
		}
		o.mu.Lock()
		o.reqs = append(o.reqs, OidcRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Accept: r.Header.Get("Accept"), Status: rec.code, At: at})
		o.mu.Unlock()
	}
}

// writeTooManyRequests answers as the API server's filters do when they
// refuse a request: the header and the Status's details both say when to
// ask again.
func writeTooManyRequests(w http.ResponseWriter, seconds int) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", strconv.Itoa(seconds))
	w.WriteHeader(http.StatusTooManyRequests)
	json.NewEncoder(w).Encode(map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{}, "status": "Failure",
		"message": "Too many requests, please try again later.", "reason": "TooManyRequests",
		"details": map[string]any{"retryAfterSeconds": seconds}, "code": http.StatusTooManyRequests,
	})
}

// served answers 404, as the API server does, for a version not served.
func (s *Server) served(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		o := s.oidc()
		o.mu.Lock()
		ok := slices.Contains(o.versions, r.PathValue("v"))
		o.mu.Unlock()
		if !ok {
			writeStatus(w, http.StatusNotFound, "NotFound", "the server could not find the requested resource")
			return
		}
		h(w, r)
	}
}

func (s *Server) groupJSON() map[string]any {
	o := s.oidc()
	o.mu.Lock()
	defer o.mu.Unlock()
	var vs []any
	for _, v := range o.versions {
		vs = append(vs, map[string]any{"groupVersion": OidcGroup + "/" + v, "version": v})
	}
	return map[string]any{
		"name": OidcGroup, "versions": vs,
		"preferredVersion": map[string]any{"groupVersion": OidcGroup + "/" + o.preferred, "version": o.preferred},
	}
}

func (s *Server) handleAPIs(w http.ResponseWriter, _ *http.Request) {
	groups := []any{map[string]any{
		"name":             "apps",
		"versions":         []any{map[string]any{"groupVersion": "apps/v1", "version": "v1"}},
		"preferredVersion": map[string]any{"groupVersion": "apps/v1", "version": "v1"},
	}}
	if g := s.groupJSON(); len(g["versions"].([]any)) > 0 {
		groups = append(groups, g)
	}
	writeJSON(w, map[string]any{"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

func (s *Server) handleGroup(w http.ResponseWriter, _ *http.Request) {
	g := s.groupJSON()
	if len(g["versions"].([]any)) == 0 {
		writeStatus(w, http.StatusNotFound, "NotFound", "the server could not find the requested resource")
		return
	}
	g["kind"], g["apiVersion"] = "APIGroup", "v1"
	writeJSON(w, g)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

const partialMetadataList = "as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"

func (sess *oidcSession) metadata() map[string]any {
	return map[string]any{
		"name": sess.name, "namespace": sess.ns, "uid": sess.uid,
		"resourceVersion": strconv.FormatInt(sess.rv, 10), "labels": sess.labels,
	}
}

func (sess *oidcSession) object(version string) map[string]any {
	return map[string]any{
		"apiVersion": OidcGroup + "/" + version, "kind": "OidcSession",
		"metadata": sess.metadata(), "spec": sess.spec,
	}
}

// matchingLocked returns the namespace's sessions the request's label
// selector picks, sorted by name.
func (o *oidcState) matchingLocked(ns string, sel selector) []*oidcSession {
	var out []*oidcSession
	for _, sess := range o.sessions {
		if sess.ns == ns && sel.matches(sess.name, sess.labels) {
			out = append(out, sess)
		}
	}
	slices.SortFunc(out, func(a, b *oidcSession) int { return strings.Compare(a.name, b.name) })
	return out
}

func (s *Server) handleOidcList(w http.ResponseWriter, r *http.Request) {
	sel, err := parseSelector(r.URL.Query())
	if err != nil {
		writeStatus(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	v, ns := r.PathValue("v"), r.PathValue("ns")
	partial := wantsPartial(r)
	o := s.oidc()
	o.mu.Lock()
	items := []any{}
	for _, sess := range o.matchingLocked(ns, sel) {
		items = append(items, sess.item(v, partial))
	}
	o.mu.Unlock()
	writeJSON(w, s.oidcList(v, items, partial))
}

// wantsPartial says whether the request's Accept asks for the objects'
// metadata alone, which the API server honours on list, get and delete
// alike (it converts whatever it would answer).
func wantsPartial(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), partialMetadataList)
}

// item is a session as an item of a list: in full, or its metadata as a
// PartialObjectMetadata.
func (sess *oidcSession) item(version string, partial bool) map[string]any {
	if partial {
		return map[string]any{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": sess.metadata()}
	}
	return sess.object(version)
}

func (s *Server) oidcList(version string, items []any, partial bool) map[string]any {
	list := map[string]any{"kind": "OidcSessionList", "apiVersion": OidcGroup + "/" + version, "metadata": map[string]any{"resourceVersion": s.resourceVersion()}, "items": items}
	if partial {
		list["kind"], list["apiVersion"] = "PartialObjectMetadataList", "meta.k8s.io/v1"
	}
	return list
}

func (s *Server) resourceVersion() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strconv.FormatInt(s.rv, 10)
}

func (s *Server) handleOidcGet(w http.ResponseWriter, r *http.Request) {
	o := s.oidc()
	o.mu.Lock()
	sess := o.sessions[r.PathValue("ns")+"/"+r.PathValue("name")]
	var obj map[string]any
	if sess != nil {
		obj = sess.object(r.PathValue("v"))
	}
	o.mu.Unlock()
	if sess == nil {
		writeNotFound(w, r.PathValue("name"))
		return
	}
	writeJSON(w, obj)
}

func writeNotFound(w http.ResponseWriter, name string) {
	writeStatus(w, http.StatusNotFound, "NotFound", fmt.Sprintf("oidcsessions.%s %q not found", OidcGroup, name))
}

func (s *Server) handleOidcCreate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Metadata struct {
			Name   string            `json:"name"`
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec map[string]any `json:"spec"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil || in.Metadata.Name == "" {
		writeStatus(w, http.StatusBadRequest, "BadRequest", "want an OidcSession with metadata.name")
		return
	}
	ns := r.PathValue("ns")
	o := s.oidc()
	o.mu.Lock()
	if o.sessions[ns+"/"+in.Metadata.Name] != nil {
		o.mu.Unlock()
		writeStatus(w, http.StatusConflict, "AlreadyExists", fmt.Sprintf("oidcsessions.%s %q already exists", OidcGroup, in.Metadata.Name))
		return
	}
	sess := &oidcSession{ns: ns, name: in.Metadata.Name, labels: in.Metadata.Labels, spec: in.Spec}
	s.addOidcLocked(o, sess)
	obj := sess.object(r.PathValue("v"))
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(obj)
}

func (s *Server) handleOidcDelete(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("ns") + "/" + r.PathValue("name")
	o := s.oidc()
	o.mu.Lock()
	sess := o.sessions[key]
	delete(o.sessions, key)
	o.mu.Unlock()
	if sess == nil {
		writeNotFound(w, r.PathValue("name"))
		return
	}
	writeJSON(w, sess.object(r.PathValue("v")))
}

// handleOidcDeleteCollection deletes what the label selector picks and, as
// the API server does for a custom resource, answers once they are deleted
// with the list of the objects deleted: in full, or as a
// PartialObjectMetadataList when the Accept asks for one.
func (s *Server) handleOidcDeleteCollection(w http.ResponseWriter, r *http.Request) {
	sel, err := parseSelector(r.URL.Query())
	if err != nil {
		writeStatus(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	v, ns := r.PathValue("v"), r.PathValue("ns")
	partial := wantsPartial(r)
	o := s.oidc()
	o.mu.Lock()
	items := []any{}
	for _, sess := range o.matchingLocked(ns, sel) {
		delete(o.sessions, sess.ns+"/"+sess.name)
		items = append(items, sess.item(v, partial))
	}
	o.mu.Unlock()
	writeJSON(w, s.oidcList(v, items, partial))
}
