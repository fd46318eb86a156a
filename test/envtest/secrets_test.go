//go:build envtest

package envtest

import (
	"context"
	"net"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
)

func condition(t *testing.T, ns, typ string) *metav1.Condition {
	t.Helper()
	cc := &chatv1.ChatCluster{}
	get(t, cc, ns, "demo")
	c := meta.FindStatusCondition(cc.Status.Conditions, typ)
	if c == nil || c.ObservedGeneration != cc.Generation {
		return nil
	}
	return c
}

func TestExternalSecretMissingDegradesThenRecovers(t *testing.T) {
	ns := newNamespace(t)
	if _, err := createFromYAML(t, ns, `{mongodb: {external: {secretName: my-mongo}}}`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Degraded naming the Secret", func() (bool, error) {
		c := condition(t, ns, chatv1.ConditionDegraded)
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == chatv1.ReasonSecretMissing &&
			strings.Contains(c.Message, `"my-mongo"`), nil
	})
	if c := condition(t, ns, chatv1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("Ready = %+v, want False", c)
	}
	if c := condition(t, ns, chatv1.ConditionMongoDBReady); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("MongoDBReady = %+v, want False", c)
	}

	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "my-mongo", Namespace: ns},
		StringData: map[string]string{"url": "mongodb://wrong-key"},
	}
	if err := k8s.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Degraded naming the missing key", func() (bool, error) {
		c := condition(t, ns, chatv1.ConditionDegraded)
		return c != nil && c.Reason == chatv1.ReasonSecretKeyMissing &&
			strings.Contains(c.Message, `"my-mongo"`) && strings.Contains(c.Message, `"uri"`), nil
	})

	secret.StringData = map[string]string{"uri": "mongodb://" + answering + "/chat"}
	if err := k8s.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "recovery", func() (bool, error) {
		c := condition(t, ns, chatv1.ConditionDegraded)
		m := condition(t, ns, chatv1.ConditionMongoDBReady)
		return c != nil && c.Status == metav1.ConditionFalse && m != nil && m.Status == metav1.ConditionTrue, nil
	})
	if err := k8s.Get(context.Background(), keyOf(ns, "demo-mongodb"), &appsv1.StatefulSet{}); err == nil {
		t.Error("a StatefulSet runs the external MongoDB")
	}
}

func TestSecretChangeRollsThePods(t *testing.T) {
	ns := newNamespace(t)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "my-redis", Namespace: ns},
		StringData: map[string]string{"url": "redis://a:6379"},
	}
	if err := k8s.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	if _, err := createFromYAML(t, ns, `{redis: {external: {secretName: my-redis}}}`); err != nil {
		t.Fatal(err)
	}
	d := &appsv1.Deployment{}
	var before string
	waitFor(t, "the chat server with a config hash", func() (bool, error) {
		err := k8s.Get(context.Background(), keyOf(ns, "demo-chat-server"), d)
		before = d.Spec.Template.Annotations["chat.chatcluster.io/config-hash"]
		return err == nil && before != "", err
	})

	secret.StringData = map[string]string{"url": "redis://b:6379"}
	if err := k8s.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new pod template", func() (bool, error) {
		get(t, d, ns, "demo-chat-server")
		return d.Spec.Template.Annotations["chat.chatcluster.io/config-hash"] != before, nil
	})
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "CHAT_REDIS_URL" && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef.Name != "my-redis") {
			t.Errorf("CHAT_REDIS_URL is not a reference to the Secret: %+v", e)
		}
	}
}

func TestMalformedSecretValueDegradesThenRecovers(t *testing.T) {
	ns := newNamespace(t)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "my-redis", Namespace: ns},
		StringData: map[string]string{"url": "http://:hunter2@redis.example:6379"},
	}
	if err := k8s.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	if _, err := createFromYAML(t, ns, `{redis: {external: {secretName: my-redis}}}`); err != nil {
		t.Fatal(err)
	}
	c := conditionIs(t, ns, chatv1.ConditionDegraded, metav1.ConditionTrue, chatv1.ReasonSecretInvalid,
		`"my-redis"`, `"url"`, "redis://", "rediss://")
	if strings.Contains(c.Message, "hunter2") {
		t.Errorf("the message quotes the Secret's value: %s", c.Message)
	}
	conditionIs(t, ns, chatv1.ConditionRedisReady, metav1.ConditionFalse, chatv1.ReasonSecretInvalid)
	eventRecorded(t, ns, corev1.EventTypeWarning, chatv1.ReasonSecretInvalid)

	secret.StringData = map[string]string{"url": "rediss://:hunter2@" + answering}
	if err := k8s.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	conditionIs(t, ns, chatv1.ConditionDegraded, metav1.ConditionFalse, chatv1.ReasonAsExpected)
	conditionIs(t, ns, chatv1.ConditionRedisReady, metav1.ConditionTrue, chatv1.ReasonSecretValid)
}

func TestUnreachableExternalBackendIsNamedThenRecovers(t *testing.T) {
	ns := newNamespace(t)
	// A port nothing listens on: taken, then given back.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "my-kafka", Namespace: ns},
		StringData: map[string]string{"brokers": closed},
	}
	if err := k8s.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	if _, err := createFromYAML(t, ns, `{kafka: {external: {secretName: my-kafka}}}`); err != nil {
		t.Fatal(err)
	}
	conditionIs(t, ns, chatv1.ConditionKafkaReady, metav1.ConditionFalse, chatv1.ReasonBackendUnreachable,
		`"my-kafka"`, `"brokers"`, closed, "connection refused")
	conditionIs(t, ns, chatv1.ConditionDegraded, metav1.ConditionTrue, chatv1.ReasonBackendUnreachable, closed)
	eventRecorded(t, ns, corev1.EventTypeWarning, chatv1.ReasonBackendUnreachable)

	secret.StringData = map[string]string{"brokers": answering}
	if err := k8s.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	conditionIs(t, ns, chatv1.ConditionKafkaReady, metav1.ConditionTrue, chatv1.ReasonSecretValid)
	conditionIs(t, ns, chatv1.ConditionDegraded, metav1.ConditionFalse, chatv1.ReasonAsExpected)
}
