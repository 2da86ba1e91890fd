package kube

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graceguard/graceguard/internal/kubeclient"
	"github.com/graceguard/graceguard/internal/retry"
	"github.com/graceguard/graceguard/source"
)

// Options configure a Source.
type Options struct {
	Config    *kubeclient.Config // the API server and credentials
	Namespace string
	Pod       string // follow the pod of this name, or
	Selector  string // the pods this label selector picks
	Container string // the container to follow; empty: every container
	// FromEnd starts the containers running at start-up at the end of
	// their logs. Containers that start later, and those a checkpoint
	// names, are read from their start or the checkpoint.
	FromEnd bool
	// Positions are where a previous run stopped: those with a Cursor.
	Positions []source.Position
	Logger    *slog.Logger
	// Keep, when set, is asked about every line (with its timestamp
	// prefix); a line it refuses is handed on blank, as many spaces as it
	// had bytes, so that offsets and cursors still follow the log. A
	// sidecar reading every ingress controller's log keeps only the
	// records of requests sent to its own OpenUnison pod this way.
	Keep func(line []byte) bool

	// Idle is how long a log stays quiet before an Idle batch (100ms).
	Idle time.Duration
	// MinBackoff and MaxBackoff bound the wait before an API request is
	// tried again (250ms, 30s).
	MinBackoff, MaxBackoff time.Duration
	// Reconnect is the least wait after a followed log ended by itself,
	// which mostly means its container stopped: the pod's status gets that
	// time to say so before the log is asked for again (2s). What keeps a
	// restarted container's lines from being taken for the old one's is
	// not this wait but a check: a log asked for again must send again the
	// last lines read from it (skipper.proven).
	Reconnect time.Duration
	// TrustAfter is how long a followed log that fails that check is
	// refused while the API server still says its instance runs; after
	// that it is taken to have been rotated, and read on (10s).
	TrustAfter time.Duration
	// DrainGrace is how long a followed log may go on after its pod's
	// status says the container stopped or the pod went (5s).
	DrainGrace time.Duration
	// WatchTimeout is how long the server keeps one watch open (5m).
	WatchTimeout time.Duration
	// MaxPods and MaxStreams bound the pods tracked (256) and the logs
	// read at once (64). A pod beyond MaxPods waits for a pod to go, and a
	// container instance beyond MaxStreams for a stream to end, the
	// longest waiting first (PodsWaiting, PodsDeferred, StreamsWaiting,
	// StreamsDeferred).
	MaxPods, MaxStreams int
}

func (o *Options) defaults() {
	setDefault(&o.Idle, 100*time.Millisecond)
	setDefault(&o.MinBackoff, 250*time.Millisecond)
	setDefault(&o.MaxBackoff, 30*time.Second)
	setDefault(&o.Reconnect, 2*time.Second)
	setDefault(&o.DrainGrace, 5*time.Second)
	setDefault(&o.TrustAfter, 10*time.Second)
	setDefault(&o.WatchTimeout, 5*time.Minute)
	setDefault(&o.MaxPods, 256)
	setDefault(&o.MaxStreams, 64)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate checks the options, names and selector before the API server
// sees them: a request it refuses would only be tried again and again.
func (opt Options) Validate() error {
	switch {
	case opt.Config == nil:
		return errors.New("kube: no API server configuration")
	case opt.Namespace == "":
		return errors.New("kube: no namespace")
	case (opt.Pod == "") == (opt.Selector == ""):
		return errors.New("kube: name one pod or a label selector, not both or neither")
	}
	if err := CheckNamespace(opt.Namespace); err != nil {
		return fmt.Errorf("kube: %w", err)
	}
	if opt.Pod != "" {
		if errs := dns1123Subdomain(opt.Pod); len(errs) > 0 {
			return fmt.Errorf("kube: pod name %q: %s", opt.Pod, strings.Join(errs, "; "))
		}
	}
	if opt.Selector != "" {
		if err := checkSelector(opt.Selector); err != nil {
			return fmt.Errorf("kube: label selector %q: %w", opt.Selector, err)
		}
	}
	if opt.Container != "" {
		if errs := dns1123Label(opt.Container); len(errs) > 0 {
			return fmt.Errorf("kube: container name %q: %s", opt.Container, strings.Join(errs, "; "))
		}
	}
	return nil
}

func setDefault[T time.Duration | int](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Source follows container logs through the Kubernetes API.
type Source struct {
	opt Options
	out chan<- source.Batch
	api *api
	log *slog.Logger

	ready atomic.Bool
	// restored are the checkpoint's positions by container id, and the
	// paths (namespace/pod/container) they name. Run's goroutine only.
	restored      map[string]source.Position
	restoredPaths map[string]bool

	mu      sync.Mutex
	pods    map[string]*podEntry // by name
	streams map[string]*stream   // by container id
	seq     int                  // streams started
	// refused are the streams whose last log request the API server
	// refused (401, 403): the detector is blind to them, and says so
	// (NotReady) where it would otherwise look ready.
	refused map[string]bool // by container id
	// waiting are the container instances passed over while MaxStreams
	// logs were being read, the longest waiting first: a stream that ends
	// starts the first. Bounded by the instances of the pods tracked.
	waiting  []pending
	deferred atomic.Uint64 // instances that ever waited
	// overPods are the pods passed over at MaxPods, each's latest object
	// by name, and overOrder the order they came in: when a pod goes, the
	// first is followed. At most MaxPods are kept (a further one is
	// counted, and the next list brings it again).
	overPods     map[string]*waitingPod
	overOrder    []string
	podsDeferred atomic.Uint64 // pods that ever waited
	// refusedPods are the pods listed whose names are not pods' names
	// (refusePodLocked), so that each is warned about once: at most
	// MaxPods, forgotten when the pod goes.
	refusedPods map[string]bool
	podsRefused atomic.Uint64
	wg          sync.WaitGroup
}

// waitingPod is a pod waiting at MaxPods to be followed.
type waitingPod struct {
	pod pod // its latest object
	// since is when it began to wait, and atStartup, for one that waited
	// from start-up, its container instances then: once followed, those
	// are started as at start-up (history passed over; with FromEnd, a
	// running one read from since, not from its start).
	since     time.Time
	atStartup map[string]candidate // by container id
}

func (w *waitingPod) startupCandidate(id string) (candidate, bool) {
	if w == nil {
		return candidate{}, false
	}
	c, ok := w.atStartup[id]
	return c, ok
}

// pending is a container instance to follow and where to start it.
type pending struct {
	inst     instance
	pos      source.Position // the checkpoint's, when restored
	restored bool
	fromEnd  bool
	// since is, for one FromEnd passed over to wait, when that was: it
	// starts there, not at its end when a stream is free, so the lines
	// logged while it waited are read.
	since time.Time
}

// podEntry is a pod being followed.
type podEntry struct {
	pod pod
	// seen are the container instances already followed or passed over,
	// so that a pod's next status does not start them again. Pruned to the
	// instances its status names.
	seen map[string]bool
}

// New returns a Source that will send to out.
func New(opt Options, out chan<- source.Batch) (*Source, error) {
	opt.defaults()
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	a, err := newAPI(opt.Config, opt.Namespace, opt.Pod, opt.Selector)
	if err != nil {
		return nil, err
	}
	s := &Source{
		opt: opt, out: out, api: a, log: opt.Logger,
		restored: map[string]source.Position{}, restoredPaths: map[string]bool{},
		pods: map[string]*podEntry{}, streams: map[string]*stream{}, overPods: map[string]*waitingPod{},
		refusedPods: map[string]bool{},
	}
	for _, p := range opt.Positions {
		if p.Cursor == "" || !strings.HasPrefix(p.Path, opt.Namespace+"/") {
			continue
		}
		s.restored[p.ID.Fingerprint] = p
		s.restoredPaths[p.Path] = true
	}
	return s, nil
}

// NotReady says why the pods' logs are not being read, "" when they are:
// the pods have not been listed yet, or the API server refuses to serve
// some of their logs (a role without get on pods/log), which left /readyz
// answering ready while the detector read nothing.
func (s *Source) NotReady() string {
	if !s.Ready() {
		return "listing pods"
	}
	s.mu.Lock()
	n := len(s.refused)
	s.mu.Unlock()
	switch {
	case n == 1:
		return "the API server refuses a container's log: needs get on pods/log in namespace " + s.opt.Namespace
	case n > 1:
		return fmt.Sprintf("the API server refuses %d containers' logs: needs get on pods/log in namespace %s", n, s.opt.Namespace)
	}
	return ""
}

// setRefused notes whether the API server refused a stream's last log
// request.
func (s *Source) setRefused(id string, refused bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !refused {
		delete(s.refused, id)
		return
	}
	if s.refused == nil {
		s.refused = map[string]bool{}
	}
	s.refused[id] = true
}

// Ready reports whether the pods have been listed once: until then nothing
// is being read.
func (s *Source) Ready() bool { return s.ready.Load() }

// Run lists and watches the pods and follows their containers' logs until
// ctx ends. It returns nil on cancellation; API errors are logged and the
// request tried again.
func (s *Source) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		s.wg.Wait()
	}()
	bo := newBackoff(s.opt.MinBackoff, s.opt.MaxBackoff)
	rv := ""
	for ctx.Err() == nil {
		if rv == "" {
			var err error
			if rv, err = s.list(ctx); err != nil {
				s.logAPIError("cannot list pods; trying again", err)
				retry.Sleep(ctx, bo.next())
				continue
			}
		}
		started := time.Now()
		next, err := s.watch(ctx, rv)
		switch {
		case ctx.Err() != nil:
		case isStatus(err, 410):
			s.log.Info("pod watch expired; listing the pods again")
			rv = ""
		case err != nil:
			s.logAPIError("pod watch failed; watching again", err)
			rv = next // "" lists again
			retry.Sleep(ctx, bo.next())
		default:
			rv = next
			if time.Since(started) < time.Second {
				retry.Sleep(ctx, bo.next()) // a server that ends watches at once must not be hammered
			} else {
				bo.reset()
			}
		}
	}
	return nil
}

func (s *Source) logAPIError(msg string, err error) {
	attrs := []any{"namespace", s.opt.Namespace, "err", err}
	if isStatus(err, 401) || isStatus(err, 403) {
		attrs = append(attrs, "needs", "get, list and watch on pods and get on pods/log in namespace "+s.opt.Namespace)
	}
	s.log.Warn(msg, attrs...)
}

// list lists the pods, starts and ends streams to match, and returns the
// list's resource version to watch from.
func (s *Source) list(ctx context.Context) (string, error) {
	list, err := s.api.listPods(ctx)
	if err != nil {
		return "", err
	}
	startup := !s.ready.Load()
	listed := map[string]bool{}
	for _, p := range list.Items {
		listed[p.Metadata.Name] = true
		s.upsert(ctx, p, startup)
	}
	s.mu.Lock()
	for name := range s.pods {
		if !listed[name] {
			s.removeLocked(name)
		}
	}
	for name := range s.overPods {
		if !listed[name] {
			s.forgetWaitingPodLocked(name)
			s.endRestoredLocked(ctx, name, nil)
		}
	}
	for name := range s.refusedPods {
		if !listed[name] {
			delete(s.refusedPods, name)
		}
	}
	s.admitWaitingPodsLocked(ctx)
	s.mu.Unlock()
	if startup {
		s.forgetUnknown(ctx)
		s.ready.Store(true)
		s.log.Info("following pod logs", "namespace", s.opt.Namespace, "pods", len(list.Items), "selector", s.describeSelector())
	}
	return list.Metadata.ResourceVersion, nil
}

func (s *Source) describeSelector() string {
	if s.opt.Pod != "" {
		return "metadata.name=" + s.opt.Pod
	}
	return s.opt.Selector
}

// forgetUnknown ends, once the first list is in, the checkpointed streams
// of container instances no pod has any more: their logs are gone, and the
// pipeline can drop their positions.
func (s *Source) forgetUnknown(ctx context.Context) {
	// A pod waiting at MaxPods still has its containers: their
	// checkpoints wait with it.
	waiting := map[string]bool{}
	s.mu.Lock()
	for _, w := range s.overPods {
		for _, c := range s.candidates(w.pod) {
			waiting[c.inst.id] = true
		}
	}
	s.mu.Unlock()
	for id, p := range s.restored {
		if waiting[id] {
			continue
		}
		s.log.Info("a checkpointed container's log is gone", "source", p.Path, "container_id", id)
		inst := instance{path: p.Path, id: id}
		s.send(ctx, source.Batch{Key: inst.key(), Path: p.Path, ID: p.ID, Offset: p.Offset, Cursor: p.Cursor, Ended: true})
		delete(s.restored, id)
	}
}

// watch applies the pod watch's events until it ends, and returns the
// newest resource version seen. The streams its events start run under
// ctx, not under the one watch request's deadline: they outlive it.
func (s *Source) watch(ctx context.Context, rv string) (string, error) {
	wctx, cancel := context.WithTimeout(ctx, s.opt.WatchTimeout+time.Minute)
	defer cancel()
	body, err := s.api.watchPods(wctx, rv, s.opt.WatchTimeout)
	if err != nil {
		return rv, err
	}
	defer body.Close()
	br := bufio.NewReaderSize(body, 64<<10)
	for {
		line, err := readEvent(br)
		if len(strings.TrimSpace(string(line))) > 0 {
			ev, derr := decodeEvent(line)
			if derr != nil {
				return rv, derr
			}
			if ev.Type == "ERROR" {
				// Mostly 410 Gone: rv is too old. Whatever it is, list again.
				return "", &kubeclient.StatusError{Code: ev.Status.Code, Msg: ev.Status.Message}
			}
			rv = ev.Pod.Metadata.ResourceVersion
			s.apply(ctx, ev)
		}
		if errors.Is(err, io.EOF) {
			return rv, nil
		}
		if err != nil {
			return rv, fmt.Errorf("watch pods: %w", err)
		}
	}
}

func (s *Source) apply(ctx context.Context, ev watchEvent) {
	switch ev.Type {
	case "ADDED", "MODIFIED":
		s.upsert(ctx, ev.Pod, false)
	case "DELETED":
		s.mu.Lock()
		delete(s.refusedPods, ev.Pod.Metadata.Name)
		s.removeLocked(ev.Pod.Metadata.Name)
		if s.forgetWaitingPodLocked(ev.Pod.Metadata.Name) {
			s.endRestoredLocked(ctx, ev.Pod.Metadata.Name, nil)
		}
		s.admitWaitingPodsLocked(ctx)
		s.mu.Unlock()
	}
}

// upsert records a pod's status, starts streams for its new container
// instances and tells its streams to look at it again.
func (s *Source) upsert(ctx context.Context, p pod, startup bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.upsertLocked(ctx, p, startup, nil)
}

// upsertLocked is upsert; w is the waiting a pod admitted did, else nil.
func (s *Source) upsertLocked(ctx context.Context, p pod, startup bool, w *waitingPod) {
	name := p.Metadata.Name
	if s.refusePodLocked(name) {
		return
	}
	e := s.pods[name]
	if e == nil || e.pod.Metadata.UID != p.Metadata.UID {
		if e == nil && len(s.pods) >= s.opt.MaxPods {
			s.waitForPodLocked(p, startup)
			return
		}
		e = &podEntry{seen: map[string]bool{}}
		s.pods[name] = e
	}
	e.pod = p
	s.startNew(ctx, e, startup, w)
	s.kickLocked(name)
}

// refusePodLocked reports whether a pod is not to be followed because its
// name is not a DNS-1123 subdomain, the only names Kubernetes gives pods: a
// broken or hostile API server, or a proxy in front of it, sent it, and
// its log is not asked for (api.podURL would refuse the name each time).
// Each is warned about and counted once while the pod is listed; past
// MaxPods such names are not remembered, and every sighting is counted
// and logged at debug level only.
func (s *Source) refusePodLocked(name string) bool {
	err := checkPodName(name)
	if err == nil {
		return false
	}
	if s.refusedPods[name] {
		return true
	}
	s.podsRefused.Add(1)
	if len(s.refusedPods) >= s.opt.MaxPods {
		s.log.Debug("the API server lists a pod that is not one; not following it", "err", err)
		return true
	}
	s.refusedPods[name] = true
	s.log.Warn("the API server lists a pod that is not one; not following it", "err", err)
	return true
}

// PodsRefused counts the pods not followed because their names are not
// pods' names, each once while it is listed.
func (s *Source) PodsRefused() uint64 { return s.podsRefused.Load() }

// waitForPodLocked keeps a pod passed over at MaxPods to follow when
// another goes: warned about and counted once, not at each of its status
// changes; its latest object is what is followed then.
func (s *Source) waitForPodLocked(p pod, startup bool) {
	name := p.Metadata.Name
	if w, ok := s.overPods[name]; ok {
		w.pod = p
		return
	}
	s.podsDeferred.Add(1)
	s.log.Warn("too many pods; following this one when another goes", "pod", name, "max", s.opt.MaxPods, "waiting", len(s.overPods)+1)
	if len(s.overPods) < s.opt.MaxPods {
		w := &waitingPod{pod: p, since: time.Now().UTC()}
		if startup {
			w.atStartup = map[string]candidate{}
			for _, c := range s.candidates(p) {
				w.atStartup[c.inst.id] = c
			}
		}
		s.overPods[name] = w
		s.overOrder = append(s.overOrder, name)
	}
}

// forgetWaitingPodLocked stops a pod waiting, and says whether it was.
func (s *Source) forgetWaitingPodLocked(name string) bool {
	if _, ok := s.overPods[name]; !ok {
		return false
	}
	delete(s.overPods, name)
	s.overOrder = slices.DeleteFunc(s.overOrder, func(n string) bool { return n == name })
	return true
}

// endRestoredLocked ends the checkpointed streams of a pod that waited at
// MaxPods, but those in named: the pod went while it waited, or its
// containers restarted on until its status named them no more. Each
// starts and ends at once (its pod or instance is gone), as the queue's
// do, which tells the pipeline to forget its position; forgetUnknown
// spared them at start-up.
func (s *Source) endRestoredLocked(ctx context.Context, name string, named map[string]bool) {
	prefix := s.opt.Namespace + "/" + name + "/"
	for id, pos := range s.restored {
		container, ok := strings.CutPrefix(pos.Path, prefix)
		if !ok || named[id] {
			continue
		}
		delete(s.restored, id)
		inst := instance{namespace: s.opt.Namespace, pod: name, container: container, path: pos.Path, id: id}
		if s.streams[id] == nil && !s.waitingLocked(id) {
			s.startOrWaitLocked(ctx, pending{inst: inst, pos: pos, restored: true})
		}
	}
}

// admitWaitingPodsLocked follows the pods that waited longest, as many as
// MaxPods has room for.
func (s *Source) admitWaitingPodsLocked(ctx context.Context) {
	for len(s.pods) < s.opt.MaxPods && len(s.overOrder) > 0 && ctx.Err() == nil {
		name := s.overOrder[0]
		w := s.overPods[name]
		s.forgetWaitingPodLocked(name)
		named := map[string]bool{}
		for _, c := range s.candidates(w.pod) {
			named[c.inst.id] = true
		}
		// Before its streams start: one on the same path would wait for
		// theirs to end (stream.after).
		s.endRestoredLocked(ctx, name, named)
		s.upsertLocked(ctx, w.pod, false, w)
	}
}

// PodsWaiting is how many pods wait at MaxPods to be followed.
func (s *Source) PodsWaiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.overPods)
}

// PodsDeferred counts the pods that had to wait at MaxPods, each once.
func (s *Source) PodsDeferred() uint64 { return s.podsDeferred.Load() }

func (s *Source) removeLocked(name string) {
	delete(s.pods, name)
	s.waiting = slices.DeleteFunc(s.waiting, func(p pending) bool { return p.inst.pod == name && !p.restored })
	s.kickLocked(name)
}

// kickLocked tells a pod's streams its status changed.
func (s *Source) kickLocked(podName string) {
	for _, st := range s.streams {
		if st.inst.pod == podName {
			select {
			case st.kick <- struct{}{}:
			default:
			}
		}
	}
}

// candidate is a container instance a pod's status names.
type candidate struct {
	inst     instance
	running  bool
	previous bool // the instance before the container's latest
}

func (s *Source) candidates(p pod) []candidate {
	var out []candidate
	for _, cs := range p.Status.ContainerStatuses {
		if s.opt.Container != "" && cs.Name != s.opt.Container {
			continue
		}
		inst := instance{namespace: s.opt.Namespace, pod: p.Metadata.Name, container: cs.Name}
		inst.path = inst.namespace + "/" + inst.pod + "/" + inst.container
		// The older instance first: a container's instances are read one
		// after the other, in the order they ran.
		cur := currentID(cs)
		if t := cs.LastState.Terminated; t != nil && t.ContainerID != "" && t.ContainerID != cur {
			c := candidate{inst: inst, previous: true}
			c.inst.id = t.ContainerID
			out = append(out, c)
		}
		if cur != "" {
			c := candidate{inst: inst, running: cs.State.Running != nil}
			c.inst.id = cur
			out = append(out, c)
		}
	}
	return out
}

// currentID is the id of a container's latest instance, if it ever ran.
func currentID(cs containerStatus) string {
	switch {
	case cs.State.Running != nil || cs.State.Terminated != nil:
		if cs.ContainerID == "" && cs.State.Terminated != nil {
			return cs.State.Terminated.ContainerID
		}
		return cs.ContainerID
	case cs.LastState.Terminated != nil && cs.ContainerID == cs.LastState.Terminated.ContainerID:
		return cs.ContainerID // waiting to restart: the latest instance is the one that stopped
	}
	return ""
}

// startNew starts a stream for each container instance of e not seen
// before: from its checkpoint, from its end for one running at start-up
// with FromEnd, else from its start. At start-up, instances that already
// stopped before graceguard began are passed over unless a checkpoint
// names them or the whole log is wanted. With MaxStreams logs being read,
// an instance waits for a stream to end.
//
// w, for a pod that waited at MaxPods, has its instances named at
// start-up started as then, a FromEnd one from when it began to wait.
func (s *Source) startNew(ctx context.Context, e *podEntry, startup bool, w *waitingPod) {
	cands := s.candidates(e.pod)
	named := map[string]bool{}
	for _, c := range cands {
		named[c.inst.id] = true
		if e.seen[c.inst.id] {
			continue
		}
		e.seen[c.inst.id] = true
		if s.streams[c.inst.id] != nil || s.waitingLocked(c.inst.id) {
			continue
		}
		pc, st := c, startup
		if at, ok := w.startupCandidate(c.inst.id); ok {
			pc, st = at, true
		}
		if p, ok := s.plan(pc, st); ok {
			if p.fromEnd && w != nil {
				p.fromEnd, p.since = false, w.since
			}
			s.startOrWaitLocked(ctx, p)
		}
	}
	for id := range e.seen {
		if !named[id] {
			delete(e.seen, id)
		}
	}
	s.waiting = slices.DeleteFunc(s.waiting, func(p pending) bool {
		return p.inst.pod == e.pod.Metadata.Name && !named[p.inst.id] && !p.restored
	})
}

// plan says where to start a candidate, or that it is passed over.
func (s *Source) plan(c candidate, startup bool) (pending, bool) {
	p := pending{inst: c.inst}
	p.pos, p.restored = s.restored[c.inst.id]
	switch {
	case p.restored:
		delete(s.restored, c.inst.id) // taken: not gone (forgetUnknown), even while it waits
	case startup && c.previous:
		return p, false // history from before graceguard began
	case startup && s.opt.FromEnd && !s.restoredPaths[c.inst.path]:
		p.fromEnd = true
		return p, c.running // stopped: nothing after its end
	}
	return p, true
}

// startOrWaitLocked starts p, or puts it last in the queue for a stream.
// It is warned about and counted once, when it starts to wait.
func (s *Source) startOrWaitLocked(ctx context.Context, p pending) {
	if len(s.streams) < s.opt.MaxStreams {
		s.startLocked(ctx, p)
		return
	}
	if p.fromEnd {
		p.fromEnd, p.since = false, time.Now().UTC()
	}
	s.waiting = append(s.waiting, p)
	s.deferred.Add(1)
	s.log.Warn("too many container logs; following this one when another's ends", "source", p.inst.path, "container_id", p.inst.id,
		"max", s.opt.MaxStreams, "waiting", len(s.waiting))
}

// startWaitingLocked fills the free streams from the queue, the longest
// waiting first: it waited longest for lines that may be going unread, and
// a container's older instance, queued first, is then read before its
// newer one. An instance its pod's status no longer names is dropped (the
// pruning in startNew and removeLocked), but for a checkpointed one: its
// stream ends at once, which tells the pipeline to forget its position.
func (s *Source) startWaitingLocked(ctx context.Context) {
	for len(s.waiting) > 0 && len(s.streams) < s.opt.MaxStreams && ctx.Err() == nil {
		p := s.waiting[0]
		s.waiting = slices.Delete(s.waiting, 0, 1)
		if s.streams[p.inst.id] == nil {
			s.startLocked(ctx, p)
		}
	}
}

func (s *Source) waitingLocked(id string) bool {
	return slices.ContainsFunc(s.waiting, func(p pending) bool { return p.inst.id == id })
}

// StreamsWaiting is how many container instances wait for a stream
// (Options.MaxStreams).
func (s *Source) StreamsWaiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiting)
}

// StreamsDeferred counts the container instances that had to wait for a
// stream, each once.
func (s *Source) StreamsDeferred() uint64 { return s.deferred.Load() }

// mode says how an instance's log is to be read now.
func (s *Source) mode(inst instance) logMode {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.pods[inst.pod]
	if e == nil {
		return modeGone
	}
	return locate(e.pod, inst.container, inst.id)
}

// freshMode is mode as the API server says it now, asked before a log is
// asked for again: the log endpoint serves a container's latest instance,
// and a pod watch lagging behind (a restart not yet seen) would have the
// old instance's stream read the new one's log. fresh is false when the
// pod could not be read, and the watch's word (cached) stands.
func (s *Source) freshMode(ctx context.Context, inst instance, cached logMode) (mode logMode, fresh bool) {
	if cached == modeGone {
		return cached, false
	}
	p, err := s.api.getPod(ctx, inst.pod)
	switch {
	case isStatus(err, 404):
		return modeGone, true
	case err != nil:
		s.log.Debug("cannot read the pod before asking for its log again; going by the pod watch", "pod", inst.pod, "err", err)
		return cached, false
	}
	return locate(p, inst.container, inst.id), true
}

// locate finds a container instance in its pod's status.
func locate(p pod, container, id string) logMode {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name != container {
			continue
		}
		cur := currentID(cs)
		switch {
		case cur == id && cs.State.Running != nil:
			return modeFollow
		case cur == id:
			return modeCurrent
		case cs.LastState.Terminated != nil && cs.LastState.Terminated.ContainerID == id:
			return modePrevious
		}
	}
	return modeGone
}

func (s *Source) send(ctx context.Context, b source.Batch) bool {
	select {
	case s.out <- b:
		return true
	case <-ctx.Done():
		return false
	}
}

// backoff doubles a wait from min to max, with jitter so that replicas do
// not retry in step.
type backoff struct{ min, max, cur time.Duration }

func newBackoff(min, max time.Duration) *backoff { return &backoff{min: min, max: max} }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur - time.Duration(rand.Int64N(int64(b.cur)/5+1))
}

func (b *backoff) reset() { b.cur = 0 }
