package controllers

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestEnsure(t *testing.T) {
	ctx := context.Background()
	tests := map[string]struct {
		// edit changes the live Service after the operator created it.
		edit func(*corev1.Service)
		// wantPatch: ensure must write to converge.
		wantPatch bool
		check     func(t *testing.T, s *corev1.Service)
	}{
		"Fields the API server defaults inside list items are not differences": {
			edit: func(s *corev1.Service) {
				s.Spec.Ports[0].NodePort = 0
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
			wantPatch: true,
			check: func(t *testing.T, s *corev1.Service) {
				if s.Spec.Ports[0].TargetPort != intstr.FromString("http") {
					t.Errorf("targetPort %v", s.Spec.Ports[0].TargetPort)
				}
			},
		},
		"A removed label the operator sets is put back": {
			edit:      func(s *corev1.Service) { delete(s.Labels, "app.kubernetes.io/component") },
			wantPatch: true,
			check: func(t *testing.T, s *corev1.Service) {
				if s.Labels["app.kubernetes.io/component"] != componentChatServer {
					t.Errorf("labels %v", s.Labels)
				}
			},
		},
		"A list whose items were renamed is replaced, not merged": {
			edit: func(s *corev1.Service) {
				s.Spec.Ports[0].Name = "other"
				s.Spec.Ports[0].Port = 81
			},
			wantPatch: true,
			check: func(t *testing.T, s *corev1.Service) {
				if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Name != "http" || s.Spec.Ports[0].Port != 80 {
					t.Errorf("ports %+v", s.Spec.Ports)
				}
			},
		},
		"A list that grew is replaced": {
			edit: func(s *corev1.Service) {
				s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "extra", Port: 9000})
			},
			wantPatch: true,
			check: func(t *testing.T, s *corev1.Service) {
				if len(s.Spec.Ports) != 1 {
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
			if err := h.client.Update(ctx, live); err != nil {
				t.Fatal(err)
			}

			before := h.writes.counts["patch"]
			desired := chatService(cc)
			if err := h.r.ensure(ctx, cc, desired); err != nil {
				t.Fatal(err)
			}
			if patched := h.writes.counts["patch"] > before; patched != tc.wantPatch {
				t.Errorf("patched = %v, want %v", patched, tc.wantPatch)
			}
			h.get(live, "demo-chat-server")
			tc.check(t, live)
			if desired.ResourceVersion != live.ResourceVersion {
				t.Errorf("ensure left desired at resourceVersion %q, the server has %q", desired.ResourceVersion, live.ResourceVersion)
			}
		})
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
