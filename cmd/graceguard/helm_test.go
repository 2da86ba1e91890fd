package main

import (
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
)

// The Helm chart is rendered by Helm's own engine (the library `helm
// template` runs, in internal/deployrender), with its values checked
// against values.schema.json, and every object goes through the same
// strict decoding and the same checks of graceguard's arguments as the
// kustomize examples.

var helmChartDir = filepath.Join("..", "..", "deploy", "helm", "graceguard")

// helmChart is a chart internal/deployrender renders.
type helmChart struct{ dir string }

func loadHelmChart(t *testing.T) helmChart {
	t.Helper()
	return helmChart{dir: helmChartDir}
}

// renderHelm renders the chart as `helm template graceguard -n NS` would
// with the given values.
func renderHelm(t *testing.T, ch helmChart, ns string, values map[string]any) (deployObjects, error) {
	t.Helper()
	resp := renderDeploy(t, renderRequest{Chart: ch.dir, Namespace: ns, Values: values})
	if resp.LoadError != "" {
		t.Fatalf("load %s: %s", ch.dir, resp.LoadError)
	}
	if resp.Error != "" {
		return deployObjects{}, errors.New(resp.Error)
	}
	files := resp.Files
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var objs deployObjects
	for _, name := range names {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		dec := k8syaml.NewYAMLOrJSONDecoder(strings.NewReader(files[name]), 4096)
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v\n%s", name, err, files[name])
			}
			if len(doc) == 0 {
				continue
			}
			data, err := jsonOf(doc)
			if err != nil {
				t.Fatal(err)
			}
			objs.decode(t, name, data)
		}
	}
	return objs, nil
}

func jsonOf(doc map[string]any) ([]byte, error) { return json.Marshal(doc) }

func TestHelmChartRenders(t *testing.T) {
	ch := loadHelmChart(t)
	standIn := renderKustomization(t, filepath.Join("..", "..", "deploy", "examples", "stand-in"))
	tests := []struct {
		name   string
		values map[string]any
		redis  bool
	}{
		{name: "defaults"},
		{name: "bundled redis", values: map[string]any{"redis": map[string]any{"enabled": true, "bundled": true}}, redis: true},
		{name: "config tuned", values: map[string]any{"config": map[string]any{"min-severity": "medium", "settle": "3s"}}},
		{name: "another selector", values: map[string]any{"openunison": map[string]any{"selector": "app=openunison-orchestra"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := renderHelm(t, ch, "openunison", tt.values)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			if len(objs.deployments) != map[bool]int{false: 1, true: 2}[tt.redis] {
				t.Errorf("%d Deployments rendered", len(objs.deployments))
			}
			objs.add(standIn)
			checkExample(t, objs, false)
		})
	}
}

// Values the schema or the templates must refuse, with words that say why.
func TestHelmChartRefusesBadValues(t *testing.T) {
	ch := loadHelmChart(t)
	tests := []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"misspelt key", map[string]any{"imagee": map[string]any{}}, "imagee"},
		{"pull policy", map[string]any{"image": map[string]any{"pullPolicy": "Sometimes"}}, "pullPolicy"},
		{"credentials in the Redis URL", map[string]any{"redis": map[string]any{"enabled": true, "url": "redis://:hunter2@redis:6379/0"}}, "url"},
		{"a wiring key in config", map[string]any{"config": map[string]any{"listen": "0.0.0.0:1"}}, "config"},
		{"redis without a server", map[string]any{"redis": map[string]any{"enabled": true}}, "redis.url"},
		{"bad port", map[string]any{"service": map[string]any{"port": 70000}}, "port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := renderHelm(t, ch, "openunison", tt.values)
			if err == nil {
				t.Fatalf("values %v rendered; want an error", tt.values)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// The chart installed in its own namespace still reads OpenUnison's pods,
// and is granted that in OpenUnison's namespace, not its own.
func TestHelmChartOtherNamespace(t *testing.T) {
	ch := loadHelmChart(t)
	objs, err := renderHelm(t, ch, "monitoring", map[string]any{"openunison": map[string]any{"namespace": "openunison"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs.roles) != 1 || objs.roles[0].Namespace != "openunison" {
		t.Fatalf("Role not in openunison's namespace: %+v", objs.roles)
	}
	b := objs.bindings[0]
	if b.Namespace != "openunison" || len(b.Subjects) != 1 || b.Subjects[0].Namespace != "monitoring" {
		t.Errorf("RoleBinding %s/%s binds %+v; want the account in monitoring", b.Namespace, b.Name, b.Subjects)
	}
	d := objs.deployments[0]
	args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " ")
	if !strings.Contains(args, "--kube-namespace openunison") {
		t.Errorf("args %q do not read openunison's namespace", args)
	}
}
