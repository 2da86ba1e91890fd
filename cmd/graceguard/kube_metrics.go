package main

import (
	"github.com/graceguard/graceguard/prom"
	"github.com/graceguard/graceguard/source/kube"
)

// kubeStreamsCollector reads, at scrape time, the container logs waiting
// for a stream (kube.Options.MaxStreams, 64 at once) and the pods waiting
// to be followed (kube.Options.MaxPods, 256) of the OpenUnison pods and of
// the proxy pods: a log that waits is not being read, so a replay in it
// waits too; and the pods refused for a name no pod may have.
type kubeStreamsCollector struct {
	sources                   map[string]*kube.Source // by the pods label: openunison, proxies
	waiting, waited           *prom.Desc
	podsWaiting, podsDeferred *prom.Desc
	podsRefused               *prom.Desc
}

// registerKubeStreams registers the collector for the Kubernetes sources
// watch runs; none without --kube-selector or --kube-pod.
func (s *watchSources) registerKubeStreams(reg *prom.Registry) {
	c := &kubeStreamsCollector{
		sources: map[string]*kube.Source{},
		waiting: prom.NewDesc("graceguard_kube_streams_waiting",
			"Container logs waiting for another's stream to end: 64 are read at once, by pods (openunison, proxies).", prom.GaugeValue, "pods"),
		waited: prom.NewDesc("graceguard_kube_streams_deferred_total",
			"Container logs that had to wait for another's stream to end, each counted once, by pods (openunison, proxies).", prom.CounterValue, "pods"),
		podsWaiting: prom.NewDesc("graceguard_kube_pods_waiting",
			"Pods waiting for another to go before they are followed: 256 are followed at once, by pods (openunison, proxies).", prom.GaugeValue, "pods"),
		podsDeferred: prom.NewDesc("graceguard_kube_pods_deferred_total",
			"Pods that had to wait for another to go before they were followed, each counted once, by pods (openunison, proxies).", prom.CounterValue, "pods"),
		podsRefused: prom.NewDesc("graceguard_kube_pods_refused_total",
			"Pods listed with a name no pod may have (not a DNS-1123 subdomain), whose logs were not asked for, by pods (openunison, proxies).", prom.CounterValue, "pods"),
	}
	if s.pods != nil {
		c.sources["openunison"] = s.pods
	}
	if s.proxies != nil {
		c.sources["proxies"] = s.proxies
	}
	if len(c.sources) > 0 {
		reg.MustRegister(c)
	}
}

func (c *kubeStreamsCollector) Describe() []*prom.Desc {
	return []*prom.Desc{c.waiting, c.waited, c.podsWaiting, c.podsDeferred, c.podsRefused}
}

func (c *kubeStreamsCollector) Collect(s *prom.Scrape) {
	for pods, src := range c.sources {
		s.Emit(c.waiting, float64(src.StreamsWaiting()), pods)
		s.Emit(c.waited, float64(src.StreamsDeferred()), pods)
		s.Emit(c.podsWaiting, float64(src.PodsWaiting()), pods)
		s.Emit(c.podsDeferred, float64(src.PodsDeferred()), pods)
		s.Emit(c.podsRefused, float64(src.PodsRefused()), pods)
	}
}
