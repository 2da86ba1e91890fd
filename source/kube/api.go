package kube

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"time"

	"github.com/graceguard/graceguard/internal/kubeclient"
)

// pod holds the few fields of a Pod graceguard reads.
type pod struct {
	Metadata struct {
		Name            string `json:"name"`
		UID             string `json:"uid"`
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
	Status struct {
		PodIP             string            `json:"podIP"`
		ContainerStatuses []containerStatus `json:"containerStatuses"`
	} `json:"status"`
}

type containerStatus struct {
	Name        string         `json:"name"`
	ContainerID string         `json:"containerID"`
	State       containerState `json:"state"`
	LastState   containerState `json:"lastState"`
}

type containerState struct {
	Running *struct {
		StartedAt string `json:"startedAt"`
	} `json:"running"`
	Terminated *struct {
		ContainerID string `json:"containerID"`
	} `json:"terminated"`
	Waiting *struct {
		Reason string `json:"reason"`
	} `json:"waiting"`
}

type podList struct {
	Metadata struct {
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
	Items []pod `json:"items"`
}

// status is the API's Status object: an error response's body, and the
// object of a watch's ERROR event.
type status struct {
	Code    int    `json:"code"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// watchEvent is one line of a watch stream.
type watchEvent struct {
	Type   string // ADDED, MODIFIED, DELETED, BOOKMARK or ERROR
	Pod    pod    // all but ERROR; a BOOKMARK's holds only its resourceVersion
	Status status // ERROR
}

// maxEvent bounds one watch event's line: a pod is a few kilobytes.
const maxEvent = 4 << 20

// decodeEvent reads one watch event. The bytes come from the network.
func decodeEvent(line []byte) (watchEvent, error) {
	var raw struct {
		Type   string          `json:"type"`
		Object json.RawMessage `json:"object"`
	}
	if err := json.Unmarshal(line, &raw); err != nil {
		return watchEvent{}, fmt.Errorf("watch event: %w", err)
	}
	ev := watchEvent{Type: raw.Type}
	var err error
	switch raw.Type {
	case "ADDED", "MODIFIED", "DELETED", "BOOKMARK":
		err = json.Unmarshal(raw.Object, &ev.Pod)
	case "ERROR":
		err = json.Unmarshal(raw.Object, &ev.Status)
	default:
		return watchEvent{}, fmt.Errorf("watch event of type %.20q", raw.Type)
	}
	if err != nil {
		return watchEvent{}, fmt.Errorf("watch %s event: %w", raw.Type, err)
	}
	if raw.Type != "ERROR" && ev.Pod.Metadata.ResourceVersion == "" {
		return watchEvent{}, fmt.Errorf("watch %s event without a resourceVersion", raw.Type)
	}
	return ev, nil
}

// isStatus reports whether err is an API response with that status code.
func isStatus(err error, code int) bool { return kubeclient.IsStatus(err, code) }

// api talks to the API server about one namespace's pods. Its requests
// carry the credentials the kubeclient.Config names; none of them is ever
// put in an error or a log line.
type api struct {
	http      *http.Client
	base      *url.URL
	namespace string
	selectors url.Values // labelSelector or fieldSelector
}

// headerTimeout bounds the wait for a response's headers: a stream then
// runs as long as it runs.
const headerTimeout = 30 * time.Second

// maxList bounds a pod list's body.
const maxList = 64 << 20

func newAPI(cfg *kubeclient.Config, namespace, podName, selector string) (*api, error) {
	hc, err := cfg.Client()
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	base, err := cfg.ServerURL()
	if err != nil {
		return nil, fmt.Errorf("kubernetes API server address: %w", err)
	}
	sel := url.Values{}
	if podName != "" {
		sel.Set("fieldSelector", "metadata.name="+podName)
	} else {
		sel.Set("labelSelector", selector)
	}
	return &api{http: hc, base: base, namespace: namespace, selectors: sel}, nil
}

func (a *api) url(q url.Values, parts ...string) string {
	u := *a.base
	u.Path = path.Join(append([]string{a.base.Path, "/api/v1/namespaces", a.namespace, "pods"}, parts...)...)
	u.RawQuery = q.Encode()
	return u.String()
}

// podURL is url for one pod, or for a part of it (its log). The name came
// from the API server: joined unchecked, one like ../../secrets/x would
// send the request, with the watcher's credentials, elsewhere in the API.
func (a *api) podURL(q url.Values, name string, parts ...string) (string, error) {
	if err := checkPodName(name); err != nil {
		return "", err
	}
	return a.url(q, append([]string{name}, parts...)...), nil
}

func (a *api) podQuery() url.Values {
	q := url.Values{}
	for k, v := range a.selectors {
		q[k] = v
	}
	return q
}

// get sends a GET and returns the body of a 200 response; closing it ends
// the request.
func (a *api) get(ctx context.Context, u string) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	timer := time.AfterFunc(headerTimeout, cancel)
	resp, err := a.http.Do(req)
	if !timer.Stop() {
		err = errors.Join(err, fmt.Errorf("no response in %s", headerTimeout))
	}
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		return nil, readAPIError(resp)
	}
	return &cancelBody{ReadCloser: resp.Body, cancel: cancel}, nil
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	b.cancel()
	return b.ReadCloser.Close()
}

// readAPIError makes an error of a response's Status body.
func readAPIError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	return kubeclient.NewStatusError(resp.StatusCode, body)
}

// listPods lists the pods the selector picks.
func (a *api) listPods(ctx context.Context) (podList, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*headerTimeout)
	defer cancel()
	body, err := a.get(ctx, a.url(a.podQuery()))
	if err != nil {
		return podList{}, fmt.Errorf("list pods: %w", err)
	}
	defer body.Close()
	var list podList
	if err := json.NewDecoder(io.LimitReader(body, maxList)).Decode(&list); err != nil {
		return podList{}, fmt.Errorf("list pods: %w", err)
	}
	if list.Metadata.ResourceVersion == "" {
		return podList{}, errors.New("list pods: the list has no resourceVersion")
	}
	return list, nil
}

// watchPods opens a watch from resource version rv. The server ends it
// after timeout.
func (a *api) watchPods(ctx context.Context, rv string, timeout time.Duration) (io.ReadCloser, error) {
	q := a.podQuery()
	q.Set("watch", "1")
	q.Set("resourceVersion", rv)
	q.Set("allowWatchBookmarks", "true")
	q.Set("timeoutSeconds", fmt.Sprint(int(timeout.Seconds())))
	body, err := a.get(ctx, a.url(q))
	if err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	return body, nil
}

// getPod reads one pod as the API server has it now.
func (a *api) getPod(ctx context.Context, name string) (pod, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*headerTimeout)
	defer cancel()
	u, err := a.podURL(nil, name)
	if err != nil {
		return pod{}, fmt.Errorf("get pod: %w", err)
	}
	body, err := a.get(ctx, u)
	if err != nil {
		return pod{}, fmt.Errorf("get pod %s: %w", name, err)
	}
	defer body.Close()
	var p pod
	if err := json.NewDecoder(io.LimitReader(body, maxEvent)).Decode(&p); err != nil {
		return pod{}, fmt.Errorf("get pod %s: %w", name, err)
	}
	return p, nil
}

// podLog opens a container's log.
func (a *api) podLog(ctx context.Context, podName string, q url.Values) (io.ReadCloser, error) {
	u, err := a.podURL(q, podName, "log")
	if err != nil {
		return nil, fmt.Errorf("pod log: %w", err)
	}
	body, err := a.get(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("log of pod %s: %w", podName, err)
	}
	return body, nil
}

// readEvent reads one newline-ended watch event, refusing one longer than
// maxEvent.
func readEvent(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > maxEvent {
			return nil, fmt.Errorf("watch event longer than %d bytes", maxEvent)
		}
		line = append(line, chunk...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
		}
	}
}
