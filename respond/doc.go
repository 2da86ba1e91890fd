// Package respond owns ending a user's OpenUnison sessions when an alert
// asks for it: it deletes the user's OidcSession objects (label
// tremolo.io/user-dn=<SHA-1 of the DN>) through the Kubernetes API, the
// way OpenUnison itself ends them at logout, so that every refresh token
// of those sessions, the thief's copy and the victim's alike, is refused.
//
// It must not decide severity (rules do) or deliver alerts (sinks do), and
// it must never read or log an OidcSession's spec, which holds the
// session's tokens: it asks for metadata only and decodes nothing else.
// What it reads is bounded: a page at a time (limit and continue, as
// kubectl pages), each answer under a cap, and of a user's sessions the
// names of the first 100,000, the rest counted.
//
// Which alerts ask: a rule's "revoke: true|false" first; else those at or
// above the gate severity, which is never below high. Before acting it
// consults, in order: the exclusion list (break-glass users, by DN or
// pattern), the other watchers sharing a store (the first to claim the
// revocation does it, as with alerts), and the rate limits (per user and
// overall). What it held back, and why, is reported like what it did.
//
// Revocations run on a worker behind a bounded queue, with retries and
// jittered backoff, so a slow or absent API server never stops alerts.
// The alert still carries the outcome: delivery waits for it at most a
// short bound (Options.Wait, 2 s by default). That bound is the design
// choice: deleting a user's sessions takes two API requests (a list and a
// deletecollection, each a page of up to 500 sessions; a user with more
// takes a pair more for each 500), tens of milliseconds in a healthy
// cluster, so the alert nearly always leaves
// with "ended: 2" and every sink (JSON, Slack, syslog, webhook) shows it
// without a second message to correlate; an alert that would wait longer
// (an outage being retried) leaves with status "pending" and the outcome
// follows in the structured log and the metrics. While the API is failing
// in a way a retry may mend, alerts do not wait at all (they leave
// "pending" at once), so an outage during a flood of alerts costs no alert
// the wait. A refusal (401, 403, another 4xx) is no outage: the API
// answers at once, and the alert says the revocation failed, and why. Two seconds matches the
// watcher's own settle wait for a grace reuse, so it changes the latency
// of an alert by at most what graceguard already accepts.
package respond
