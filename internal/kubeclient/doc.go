// Package kubeclient finds a Kubernetes API server and the credentials to
// talk to it, and makes the HTTP client that carries them. In a pod that is
// the pod's service account, its token re-read as it rotates; elsewhere a
// kubeconfig, found and merged as kubectl finds and merges it, with its
// cluster's TLS settings and its user's token, token file, client
// certificate, basic auth, exec credential plugin or impersonation.
//
// It exists so that graceguard need not link client-go's rest and clientcmd
// packages: their size and package initialisation cost more resident memory
// than an idle watch may use. It reads what those packages read and resolves
// it as they do (its tests check it against clientcmd on a table of
// kubeconfigs), but only for the parts graceguard uses; the README says
// which.
//
// It must not put a credential (a token, a password, a private key, an exec
// plugin's output) into an error, a log line or a Config's printed form. It
// must not write to a kubeconfig (no persisted credentials, no migration of
// old files) or ask anyone for anything: graceguard runs unattended, and an
// exec plugin runs without a terminal. It knows nothing of pods or logs.
package kubeclient
