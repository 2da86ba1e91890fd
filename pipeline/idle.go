package pipeline

import "time"

// idleRelease is how long the files stay quiet before a watcher reports
// itself idle (WatchOptions.Idle): a sidecar that caught up on a backlog
// should not keep its peak size for ever, but a pause between bursts is no
// reason to give memory back.
const idleRelease = 2 * time.Second
