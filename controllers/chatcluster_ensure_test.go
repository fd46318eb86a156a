package controllers

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// These tests run server-side apply on the fake client; test/envtest runs
// the same ensure against a real API server.

func TestEnsure(t *testing.T) {
	ctx := context.Background()
	tests := map[string]struct {
		// edit changes the live Service after the operator created it.
		edit func(*corev1.Service)
		// wantApply: ensure must write to converge.
		wantApply bool
		check     func(t *testing.T, s *corev1.Service)
	}{
		"Fields others set are not differences": {
			edit: func(s *corev1.Service) {
				s.Spec.ClusterIP = "10.0.0.7"
				s.Spec.SessionAffinity = corev1.ServiceAffinityNone
			},
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.ClusterIP != "10.0.0.7" {
					t.Errorf("clusterIP %q was reset", s.Spec.ClusterIP)
				}
			},
		},
		"Labels and annotations added by others are kept": {
			edit: func(s *corev1.Service) {
				s.Labels["team"] = "chat"
				s.Annotations = map[string]string{"note": "hand-written"}
			},
			check: func(t *testing.T, s *corev1.Service) {
				if s.Labels["team"] != "chat" || s.Annotations["note"] != "hand-written" {
					t.Errorf("foreign metadata lost: %v %v", s.Labels, s.Annotations)
				}
			},
		},
		"An edited field the operator sets is put back": {
			edit:      func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(9999) },
			wantApply: true,
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.Ports[0].TargetPort != intstr.FromString("http") {
					t.Errorf("targetPort %v", s.Spec.Ports[0].TargetPort)
				}
			},
		},
		"A removed label the operator sets is put back": {
			edit:      func(s *corev1.Service) { delete(s.Labels, "app.kubernetes.io/component") },
			wantApply: true,
			check: func(t *testing.T, s *corev1.Service) {
				if s.Labels["app.kubernetes.io/component"] != componentChatServer {
					t.Errorf("labels %v", s.Labels)
				}
			},
		},
		"A port of the operator's replaced by another comes back next to it": {
			edit: func(s *corev1.Service) {
				s.Spec.Ports[0].Name = "other"
				s.Spec.Ports[0].Port = 81
			},
			wantApply: true,
			check: func(t *testing.T, s *corev1.Service) {
				if port(s, "http") != 80 || port(s, "other") != 81 || len(s.Spec.Ports) != 2 {
					t.Errorf("ports %+v, want http 80 back and other 81 kept", s.Spec.Ports)
				}
			},
		},
		"A port others added is kept": {
			edit: func(s *corev1.Service) {
				s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "extra", Port: 9000, Protocol: corev1.ProtocolTCP})
			},
			check: func(t *testing.T, s *corev1.Service) {
				if port(s, "http") != 80 || port(s, "extra") != 9000 {
					t.Errorf("ports %+v", s.Spec.Ports)
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cc := newChatCluster()
			h := newHarness(t, cc)
			if err := h.r.ensure(ctx, cc, chatService(cc)); err != nil {
				t.Fatal(err)
			}
			live := &corev1.Service{}
			h.get(live, "demo-chat-server")
			if !metav1.IsControlledBy(live, cc) {
				t.Fatal("created without a controller reference")
			}
			tc.edit(live)
			if err := h.client.Update(ctx, live, client.FieldOwner("someone-else")); err != nil {
				t.Fatal(err)
			}

			before := h.writes.counts["apply"]
			desired := chatService(cc)
			if err := h.r.ensure(ctx, cc, desired); err != nil {
				t.Fatal(err)
			}
			if applied := h.writes.counts["apply"] > before; applied != tc.wantApply {
				t.Errorf("applied = %v, want %v", applied, tc.wantApply)
			}
			h.get(live, "demo-chat-server")
			tc.check(t, live)
			if desired.ResourceVersion != live.ResourceVersion {
				t.Errorf("ensure left desired at resourceVersion %q, the server has %q", desired.ResourceVersion, live.ResourceVersion)
			}
		})
	}
}

func port(s *corev1.Service, name string) int32 {
	for _, p := range s.Spec.Ports {
		if p.Name == name {
			return p.Port
		}
	}
	return 0
}

func TestEnsureRemovesWhatDesiredNoLongerHas(t *testing.T) {
	ctx := context.Background()
	cc := newChatCluster()
	h := newHarness(t, cc)
	cm := func(data map[string]string, annotations map[string]string) *corev1.ConfigMap {
		m := objectMeta(cc, componentChatServer)
		m.Annotations = annotations
		return &corev1.ConfigMap{ObjectMeta: m, Data: data}
	}
	if err := h.r.ensure(ctx, cc, cm(map[string]string{"A": "1", "CHAT_CA_FILE": "/ca"}, map[string]string{"x": "y"})); err != nil {
		t.Fatal(err)
	}
	if err := h.r.ensure(ctx, cc, cm(map[string]string{"A": "1"}, nil)); err != nil {
		t.Fatal(err)
	}
	live := &corev1.ConfigMap{}
	h.get(live, "demo-chat-server")
	if _, ok := live.Data["CHAT_CA_FILE"]; ok || live.Data["A"] != "1" {
		t.Errorf("data %v, want only A", live.Data)
	}
	if _, ok := live.Annotations["x"]; ok {
		t.Errorf("annotations %v, want x gone", live.Annotations)
	}
}

func TestEnsureRecordsEventsOnlyForRealChanges(t *testing.T) {
	ctx := context.Background()
	cc := newChatCluster()
	h := newHarness(t, cc)
	for range 2 {
		if err := h.r.ensure(ctx, cc, chatService(cc)); err != nil {
			t.Fatal(err)
		}
	}
	changed := chatService(cc)
	changed.Spec.Ports[0].Port = 8000
	if err := h.r.ensure(ctx, cc, changed); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(h.events.Events) > 0 {
		got = append(got, strings.Fields(<-h.events.Events)[1])
	}
	if strings.Join(got, ",") != "Created,Updated" {
		t.Errorf("events %v, want Created then Updated", got)
	}
}

func TestEnsureAbsentLeavesOthersObjectsAlone(t *testing.T) {
	cc := newChatCluster()
	foreign := &corev1.ConfigMap{}
	foreign.Name, foreign.Namespace = "demo-chat-server", "chat"
	h := newHarness(t, cc, foreign)
	if err := h.r.ensureAbsent(context.Background(), cc, foreign.DeepCopy()); err != nil {
		t.Fatal(err)
	}
	if h.absent(&corev1.ConfigMap{}, "demo-chat-server") {
		t.Error("deleted a ConfigMap the ChatCluster does not control")
	}
}
