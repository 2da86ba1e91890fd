// Package kube follows OpenUnison's container logs through the Kubernetes
// API: it lists and watches the pods a name or label selector picks in one
// namespace, streams each running container's log with timestamps, and hands
// on its lines as source.Batch values, one line a batch, like the file
// follower in package source does for files.
//
// It owns the talk with the API server (pods list and watch, pods/log
// follow), the life of each container instance's stream (a restart is a new
// stream; a deleted pod or finished container ends its stream), reconnection
// without loss or repetition, and the cursor that lets a restart resume a
// stream where a checkpoint left it. It reads at most MaxStreams logs at
// once; a further instance waits in a queue, keeping where it is to start,
// and starts when a stream ends, the longest waiting first. The API server resumes a log only from
// a time (sinceTime, which it passes on to the kubelet truncated to the
// second), so a cursor is the time of a line and how many lines before it
// carried that same time; lines the server sends again are dropped here.
// They are also the proof that a log asked for again is the instance's:
// the API serves a container's latest instance, whatever the stream asks
// for, so a connection that does not send the cursor's lines again is
// refused (a restart the pod's status does not show yet), and the pod is
// read afresh before each reconnection.
//
// It also tells each followed log's pod IP (Addr, Addrs: attribution needs
// the OpenUnison and proxy pods' addresses), and hands on blank, keeping
// offsets and cursors, the lines a caller's Keep refuses (a sidecar
// following every ingress controller keeps only its own pod's requests).
//
// It must not parse log records (the pipeline does, and detects the
// `kubectl logs --timestamps` wrapping itself), decide where a checkpointed
// stream resumes (the pipeline saves the cursor it is given), log bearer
// tokens or other credentials, or import client-go or apimachinery: their
// package initialisation and size cost more memory than graceguard's idle
// budget allows, even for a watch that reads only files. It decodes the
// few pod fields it needs with encoding/json, checks names and label
// selectors as apimachinery does (names.go), and takes the API server,
// credentials and transport from internal/kubeclient. The pod names the
// API server sends are checked too before they go into a request's path:
// a pod whose name Kubernetes would not give is not followed (PodsRefused).
package kube
