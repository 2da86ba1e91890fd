package pipeline

import "github.com/graceguard/graceguard/correlate"

// The stores' optional capabilities the watcher looks for by type
// assertion (localStore, batchingStore, sharedHealth, writingBack). These lines make a
// renamed or changed method a compile error here instead of a capability
// silently lost: a Memory store no longer checkpointed, a Redis batch
// never flushed, a Redis outage never reported on /readyz.
var (
	_ correlate.Store = (*correlate.Memory)(nil)
	_ correlate.Store = (*correlate.Redis)(nil)
	_ correlate.Store = (*correlate.Failover)(nil)

	_ localStore = (*correlate.Memory)(nil)
	_ localStore = (*correlate.Failover)(nil)

	_ batchingStore = (*correlate.Redis)(nil)
	_ batchingStore = (*correlate.Failover)(nil)

	_ sharedHealth = (*correlate.Failover)(nil)

	_ writingBack = (*correlate.Failover)(nil)
)
