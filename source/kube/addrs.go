package kube

import (
	"net/netip"
	"strings"
)

// Addr is the pod IP behind a source name as the pipeline knows it
// (Batch.Path and Event.Source: namespace/pod/container), from the pod's
// latest status. Attribution needs it: an ingress controller's record names
// the OpenUnison pod it sent a request to by this address
// ($upstream_addr), and OpenUnison names the controller pod by it.
// It reports false for a pod not followed, or one without an IP yet.
func (s *Source) Addr(src string) (netip.Addr, bool) {
	ns, rest, ok := strings.Cut(src, "/")
	if !ok || ns != s.opt.Namespace {
		return netip.Addr{}, false
	}
	name, _, _ := strings.Cut(rest, "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.pods[name]
	if e == nil {
		return netip.Addr{}, false
	}
	return podAddr(e.pod)
}

// Addrs is Addr for every container log of every pod followed now, by
// source name.
func (s *Source) Addrs() map[string]netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]netip.Addr, len(s.pods))
	for name, e := range s.pods {
		a, ok := podAddr(e.pod)
		if !ok {
			continue
		}
		for _, cs := range e.pod.Status.ContainerStatuses {
			if s.opt.Container != "" && cs.Name != s.opt.Container {
				continue
			}
			out[s.opt.Namespace+"/"+name+"/"+cs.Name] = a
		}
	}
	return out
}

// podAddr reads status.podIP; a pod on the host network has the node's.
func podAddr(p pod) (netip.Addr, bool) {
	a, err := netip.ParseAddr(p.Status.PodIP)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
