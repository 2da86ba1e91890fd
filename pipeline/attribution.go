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

	"github.com/graceguard/graceguard/alert"
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
	if st.NoClientReuses == st.UnattributedReuses {
		// Every one was joined to its record, which names nobody: the
		// log is there and lines up; its format leaves the client out.
		return fmt.Sprintf("%s came through a proxy (%s) whose access log records name no client (\"-\" where the "+
			"client address goes), so their client is unknown and no address rule judged them above info. Make the "+
			"proxy log the client: Envoy's default format has only X-Forwarded-For, absent when nothing in front of "+
			"Envoy sets it (Istio's format adds %%DOWNSTREAM_REMOTE_ADDRESS%%); ingress-nginx logs $remote_addr.",
			what, strings.Join(names, ", "))
	}
	if st.OutnumberedReuses == st.UnattributedReuses {
		return fmt.Sprintf("%s came through a proxy (%s) at moments when OpenUnison logged more token requests than "+
			"the proxy's access log has token-request records for, so one of them has no record and which one cannot be "+
			"told: their client is unknown and no address rule judged them above info. A record is missing when a line "+
			"was lost, or when a client forged its request's path: Envoy and Istio log %%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%% "+
			"and pass a client's X-Envoy-Original-Path on, so a thief's replay can show as any path. Strip that header from "+
			"outside requests at the edge (request_headers_to_remove), or log %%REQ(:PATH)%%.",
			what, strings.Join(names, ", "))
	}
	note := unattributedCause(st, what, names)
	if st.OutnumberedReuses > 0 {
		note += fmt.Sprintf(" %d of them came at moments when OpenUnison logged more token requests than the proxy's "+
			"log has records for (a line lost, or a path forged through X-Envoy-Original-Path): strip that header at the edge.",
			st.OutnumberedReuses)
	}
	return note
}

// unattributedCause is UnattributedNote's note for reuses unattributed for
// want of their proxy's log, or of records that line up with it.
func unattributedCause(st attribute.Stats, what string, names []string) string {
	if st.ProxyLogs > 0 {
		logsWord, recordsWord := "log", "records"
		if st.ProxyLogs > 1 {
			logsWord = "logs"
		}
		if st.RecordsUnmatched == 1 {
			recordsWord = "record"
		}
		skew := st.Skew
		if skew <= 0 {
			skew = attribute.DefaultSkew
		}
		// A proxy log was read, and none of its records was these
		// requests': "not given" would send the reader looking for a log
		// already there, past the real cause.
		return fmt.Sprintf("%s came through a proxy (%s) and matched no record of the proxy access %s read (%s %s unmatched), "+
			"so their client is unknown and no address rule judged them above info. Either that proxy's log is not among "+
			"the inputs (add it), or its records do not line up with OpenUnison's: check that it covers the same time, "+
			"that --timezone names the zone of OpenUnison's timestamps, and that the nodes' clocks agree: records with "+
			"milliseconds are matched within --proxy-clock-skew (%s here), which nodes further apart need raised.",
			what, strings.Join(names, ", "), logsWord, alert.GroupThousands(st.RecordsUnmatched), recordsWord, skew)
	}
	return fmt.Sprintf("%s came through a proxy (%s) whose access log was not given, so their client is unknown "+
		"and no address rule judged them above info. Add the proxy's access log as another input: the ingress-nginx "+
		"controller's or the Istio/Envoy gateway's log file (`graceguard scan OPENUNISON.log… PROXY.log…`); in Kubernetes, "+
		"`kubectl logs -n ingress-nginx -l app.kubernetes.io/component=controller` for each controller pod, or "+
		"`watch --kube-proxy-namespace NS --kube-proxy-selector SEL`.",
		what, strings.Join(names, ", "))
}
