package pipeline

// Attribution runs between the parser and the correlator: every event goes
// through an attribute.Attributor, which holds token events until the
// proxy logs have caught up with them (scan: the merged log clock; watch:
// each proxy source's clock, bounded in wall time by the settle time) and
// gives them back, in log time order, knowing their client.

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/graceguard/graceguard/attribute"
)

// UnattributedNote says what the unattributed reuses of st mean and which
// log to add; "" when there were none.
func UnattributedNote(st attribute.Stats) string {
	if st.UnattributedReuses == 0 {
		return ""
	}
	proxies := make([]netip.Addr, 0, len(st.Unattributed))
	for a := range st.Unattributed {
		proxies = append(proxies, a)
	}
	slices.SortFunc(proxies, func(x, y netip.Addr) int { return x.Compare(y) })
	names := make([]string, len(proxies))
	for i, a := range proxies {
		names[i] = a.String()
	}
	what := fmt.Sprintf("%d grace reuses", st.UnattributedReuses)
	if st.UnattributedReuses == 1 {
		what = "1 grace reuse"
	}
	return fmt.Sprintf("%s came through a proxy (%s) whose access log was not given, so their client is unknown "+
		"and no address rule judged them above info. Add the proxy's access log as another input: the ingress-nginx "+
		"controller's or the Istio/Envoy gateway's log file (`graceguard scan OPENUNISON.log… PROXY.log…`); in Kubernetes, "+
		"`kubectl logs -n ingress-nginx -l app.kubernetes.io/component=controller` for each controller pod, or "+
		"`watch --kube-proxy-namespace NS --kube-proxy-selector SEL`.",
		what, strings.Join(names, ", "))
}
