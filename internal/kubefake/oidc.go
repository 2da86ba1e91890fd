package kubefake

// OpenUnison's Kubernetes session store: OidcSession objects of the
// openunison.tremolo.io group, served at the paths and in the shapes the
// real API server serves a custom resource: discovery, list and
// deletecollection with a label selector (both also as
// PartialObjectMetadataList, both in pages with limit and continue), get,
// create and delete. Their metadata is what the API server keeps for an
// object it stores (uid, resourceVersion, generation, creationTimestamp,
// managedFields), so that a list's size is a real one's.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
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
	Bytes                       int64     // of the answer's body
	At                          time.Time // when it came
}

type oidcState struct {
	mu        sync.Mutex
	preferred string
	versions  []string
	sessions  map[string]*oidcSession // by namespace/name
	// keys is the sessions in the order of their etcd keys (namespace,
	// then name), as a page is read; nil when a session was added since.
	keys      []*oidcSession
	failNext  int
	failCode  int
	failAfter int      // Retry-After of the failures, in seconds; 0: none
	denied    []string // verbs DenyOidc refuses
	expire    int      // continue tokens ExpireOidcContinues has yet to find expired
	reqs      []OidcRequest
}

type oidcSession struct {
	ns, name string
	labels   map[string]string
	spec     map[string]any
	rv       int64
	uid      string
	partial  json.RawMessage // its PartialObjectMetadata, made once: it never changes
	created  time.Time
	manager  string // the field manager that created it
	version  string // of the group, in which it was written
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
		manager: "openunison", version: o.preferred,
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
	sess.created = time.Now().UTC()
	o.sessions[sess.ns+"/"+sess.name] = sess
	o.keys = nil
}

func compareKeys(a, b *oidcSession) int {
	if c := strings.Compare(a.ns, b.ns); c != 0 {
		return c
	}
	return strings.Compare(a.name, b.name)
}

// keysLocked is the sessions in the order of their keys.
func (o *oidcState) keysLocked() []*oidcSession {
	if o.keys == nil {
		o.keys = make([]*oidcSession, 0, len(o.sessions))
		for _, sess := range o.sessions {
			o.keys = append(o.keys, sess)
		}
		slices.SortFunc(o.keys, compareKeys)
	}
	return o.keys
}

// removeLocked deletes a session, keeping the order of the others.
func (o *oidcState) removeLocked(sess *oidcSession) {
	delete(o.sessions, sess.ns+"/"+sess.name)
	if o.keys == nil {
		return
	}
	if i, ok := slices.BinarySearchFunc(o.keys, sess, compareKeys); ok {
		o.keys = slices.Delete(o.keys, i, i+1)
	}
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
	code  int
	bytes int64
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
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
		o.reqs = append(o.reqs, OidcRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Accept: r.Header.Get("Accept"), Status: rec.code, Bytes: rec.bytes, At: at})
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
		"resourceVersion": strconv.FormatInt(sess.rv, 10), "generation": 1,
		"creationTimestamp": sess.created.Format(time.RFC3339), "labels": sess.labels,
		"managedFields": []any{sess.managedFields()},
	}
}

// managedFields is the entry the API server records for the write that
// created the session: which manager set which fields (their names, never
// their values).
func (sess *oidcSession) managedFields() map[string]any {
	labels := map[string]any{".": map[string]any{}}
	for k := range sess.labels {
		labels["f:"+k] = map[string]any{}
	}
	spec := map[string]any{".": map[string]any{}}
	for k := range sess.spec {
		spec["f:"+k] = map[string]any{}
	}
	return map[string]any{
		"manager": sess.manager, "operation": "Update", "apiVersion": OidcGroup + "/" + sess.version,
		"time": sess.created.Format(time.RFC3339), "fieldsType": "FieldsV1",
		"fieldsV1": map[string]any{"f:metadata": map[string]any{"f:labels": labels}, "f:spec": spec},
	}
}

// fieldManager names a write's manager as the API server does: the
// fieldManager parameter, else the User-Agent up to its first slash.
func fieldManager(r *http.Request) string {
	if m := r.URL.Query().Get("fieldManager"); m != "" {
		return m
	}
	m, _, _ := strings.Cut(r.UserAgent(), "/")
	return m
}

func (sess *oidcSession) object(version string) map[string]any {
	return map[string]any{
		"apiVersion": OidcGroup + "/" + version, "kind": "OidcSession",
		"metadata": sess.metadata(), "spec": sess.spec,
	}
}

// paging is a list's limit and continue, as the API server reads them.
type paging struct {
	limit int64  // 0: no limit
	start string // the least name the page may hold (a continue's "name\x00")
	// rv is the resource version of the list's first page, which a
	// continued page is read at; -1 for the token a 410 hands out, read
	// at the latest (an inconsistent list); 0 for a first page.
	rv int64
}

// continueToken is the API server's continue value (base64url of this
// JSON), its start key relative to the listed collection's prefix.
type continueToken struct {
	Version string `json:"v"`
	RV      int64  `json:"rv"`
	Start   string `json:"start"`
}

func (t continueToken) encode() string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

// parsePaging reads limit and continue; the error is the message of the
// API server's 400.
func parsePaging(q url.Values) (paging, error) {
	var pg paging
	if v := q.Get("limit"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return pg, fmt.Errorf("limit: %w", err)
		}
		pg.limit = max(n, 0)
	}
	c := q.Get("continue")
	if c == "" {
		return pg, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return pg, fmt.Errorf("continue key is not valid: %w", err)
	}
	var t continueToken
	if err := json.Unmarshal(b, &t); err != nil {
		return pg, fmt.Errorf("continue key is not valid: %w", err)
	}
	switch {
	case t.Version != "meta.k8s.io/v1":
		return pg, fmt.Errorf("continue key is not valid: server does not recognize this encoded key")
	case t.RV == 0 || t.RV < -1:
		return pg, fmt.Errorf("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
	case t.Start == "" || strings.Contains(strings.TrimSuffix(t.Start, "\x00"), "/"):
		return pg, fmt.Errorf("continue key is not valid: invalid start key")
	}
	pg.start, pg.rv = t.Start, t.RV
	return pg, nil
}

// ExpireOidcContinues makes the next n requests for oidc-sessions that
// carry a continue token (of a consistent list) find it expired, as when
// etcd compacts past the revision a paged list started at between two of
// its pages (every five minutes by default): 410 Gone, reason Expired,
// the Status carrying a token for the inconsistent rest of the list.
func (s *Server) ExpireOidcContinues(n int) {
	o := s.oidc()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.expire = n
}

// writeContinueExpired answers as kube-apiserver's etcd3 store does for a
// continue token whose revision was compacted.
func writeContinueExpired(w http.ResponseWriter, start string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusGone)
	json.NewEncoder(w).Encode(map[string]any{
		"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": http.StatusGone, "reason": "Expired",
		"metadata": map[string]any{"continue": continueToken{Version: "meta.k8s.io/v1", RV: -1, Start: start}.encode()},
		"message": "The provided continue parameter is too old to display a consistent list result. You can start a new list " +
			"without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. " +
			"Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted " +
			"between the time the first chunk was returned and now may show up in the list.",
	})
}

// oidcPage is one page of a list or deletecollection.
type oidcPage struct {
	items     []*oidcSession
	rv        int64  // the resource version the page was read at
	next      string // its continue token; "" for the last page
	remaining int    // remainingItemCount, set without a label selector only
	selected  bool   // a label or field selector picked the items
}

// pageLocked reads a page of the namespace's sessions the selector picks
// as kube-apiserver's etcd3 store reads one: the keys in order of name
// from the page's start, until limit items match; a continue token when
// the page is full and any key (matching or not) follows, so the last
// page may come empty. A continued page is read at its first page's
// resource version: sessions created since are not in it. (Sessions
// deleted since are, on a real server, with a NotFound that a
// deletecollection ignores; this fake keeps no history, so they are not.)
func (s *Server) pageLocked(o *oidcState, ns string, sel selector, pg paging) oidcPage {
	rv := pg.rv
	if rv <= 0 {
		rv, _ = strconv.ParseInt(s.resourceVersion(), 10, 64)
	}
	all := o.keysLocked()
	from, _ := slices.BinarySearchFunc(all, &oidcSession{ns: ns, name: pg.start}, compareKeys)
	to := from
	for to < len(all) && all[to].ns == ns {
		to++
	}
	page := oidcPage{rv: rv, selected: len(sel.labels) > 0 || sel.name != ""}
	for i, sess := range all[from:to] {
		if sess.rv > rv {
			continue
		}
		if pg.limit > 0 && int64(len(page.items)) == pg.limit {
			last := page.items[len(page.items)-1]
			page.next = continueToken{Version: "meta.k8s.io/v1", RV: rv, Start: last.name + "\x00"}.encode()
			for _, rest := range all[from+i : to] {
				if rest.rv <= rv {
					page.remaining++
				}
			}
			break
		}
		if sel.matches(sess.name, sess.labels) {
			page.items = append(page.items, sess)
		}
	}
	return page
}

// readPaging reads the request's selector and paging, answering it 400
// when they are not valid.
func readPaging(w http.ResponseWriter, r *http.Request) (selector, paging, bool) {
	sel, err := parseSelector(r.URL.Query())
	if err == nil {
		var pg paging
		if pg, err = parsePaging(r.URL.Query()); err == nil {
			return sel, pg, true
		}
	}
	writeStatus(w, http.StatusBadRequest, "BadRequest", err.Error())
	return selector{}, paging{}, false
}

// expiredLocked says whether pg's continue token is one ExpireOidcContinues
// has expired.
func (o *oidcState) expiredLocked(pg paging) bool {
	if pg.rv <= 0 || o.expire == 0 {
		return false
	}
	o.expire--
	return true
}

func (s *Server) handleOidcList(w http.ResponseWriter, r *http.Request) {
	s.serveOidcPage(w, r, false)
}

// wantsPartial says whether the request's Accept asks for the objects'
// metadata alone, which the API server honours on list, get and delete
// alike (it converts whatever it would answer).
func wantsPartial(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), partialMetadataList)
}

// item is a session as an item of a list: in full, or its metadata as a
// PartialObjectMetadata.
func (sess *oidcSession) item(version string, partial bool) json.RawMessage {
	if !partial {
		b, _ := json.Marshal(sess.object(version))
		return b
	}
	if sess.partial == nil {
		sess.partial, _ = json.Marshal(map[string]any{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": sess.metadata()})
	}
	return sess.partial
}

// writeOidcList answers a list of items already encoded: spliced in, not
// encoded again, as a page of many sessions would be at every request.
func writeOidcList(w http.ResponseWriter, version string, page oidcPage, items []json.RawMessage, partial bool) {
	meta := map[string]any{"resourceVersion": strconv.FormatInt(page.rv, 10)}
	if page.next != "" {
		meta["continue"] = page.next
		// The API server cannot count what a selector would pick.
		if !page.selected {
			meta["remainingItemCount"] = page.remaining
		}
	}
	list := map[string]any{"kind": "OidcSessionList", "apiVersion": OidcGroup + "/" + version, "metadata": meta}
	if partial {
		list["kind"], list["apiVersion"] = "PartialObjectMetadataList", "meta.k8s.io/v1"
	}
	head, _ := json.Marshal(list)
	body := append(head[:len(head)-1], `,"items":[`...)
	for i, it := range items {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, it...)
	}
	body = append(body, "]}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
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
	sess := &oidcSession{ns: ns, name: in.Metadata.Name, labels: in.Metadata.Labels, spec: in.Spec, manager: fieldManager(r), version: r.PathValue("v")}
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
	if sess != nil {
		o.removeLocked(sess)
	}
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
// PartialObjectMetadataList when the Accept asks for one. With a limit it
// deletes one page, as kube-apiserver's generic registry does ("if the
// original request was setting the limit, finish after running it"), and
// answers it with the page's continue token, which the next call may pass
// to delete the next page; without one, everything (the API server pages
// through its storage itself, and answers with all it deleted).
func (s *Server) handleOidcDeleteCollection(w http.ResponseWriter, r *http.Request) {
	s.serveOidcPage(w, r, true)
}

// serveOidcPage answers a list or, with remove, a deletecollection: one
// page of the selected sessions, removed first when asked, as the API
// server's store answers both.
func (s *Server) serveOidcPage(w http.ResponseWriter, r *http.Request, remove bool) {
	sel, pg, ok := readPaging(w, r)
	if !ok {
		return
	}
	o := s.oidc()
	o.mu.Lock()
	if o.expiredLocked(pg) {
		o.mu.Unlock()
		writeContinueExpired(w, pg.start)
		return
	}
	page := s.pageLocked(o, r.PathValue("ns"), sel, pg)
	v, partial := r.PathValue("v"), wantsPartial(r)
	items := make([]json.RawMessage, 0, len(page.items))
	for _, sess := range page.items {
		if remove {
			o.removeLocked(sess)
		}
		items = append(items, sess.item(v, partial))
	}
	o.mu.Unlock()
	writeOidcList(w, v, page, items, partial)
}
