//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver/chattest/fakees"
	"github.com/chatcluster/chatcluster/chatserver/sqlite/sqlitetest"
)

// fault is one kind of failure, injected into a rig of its own round after
// round under the load, each round checked on its own.
type fault struct {
	name   string
	rig    func(t *testing.T) *rig
	reps   [2]int           // rounds: short form, long form
	outage [2]time.Duration // how long the fault lasts, where it lasts: short, long
	chatUp bool             // the chat must go on: no send may be refused
	// settle is how long after the fault recovery may take (default
	// settleTime).
	settle time.Duration
	inject injector
}

// injector does a fault under the load and returns once it is over, with
// the moment it was over: recovery is measured from there.
type injector func(r *rig, l *load, round int, outage time.Duration) (time.Time, error)

// settleTime is how long after a fault the system has to be whole again:
// every sender served, every event acknowledged before it indexed.
const settleTime = 30 * time.Second

// The durations of the outages in the long form are those a production
// chat meets and must ride out; the short form shortens them.
const (
	shortOutage = 5 * time.Second
	redisOutage = 30 * time.Second
	mongoOutage = 30 * time.Second
	kafkaOutage = 60 * time.Second
	esOutage    = 60 * time.Second
	diskOutage  = 30 * time.Second
)

var faults = []fault{
	{name: "chat-kill", rig: multiRig, reps: [2]int{2, 20}, inject: killInBurst(func(r *rig, round int) *server { return r.chats[round%len(r.chats)] })},
	{name: "embedded-kill-fsync", rig: func(t *testing.T) *rig { return embeddedRig(t, true, "") }, reps: [2]int{1, 20}, inject: killInBurst(single)},
	{name: "embedded-kill-nofsync", rig: func(t *testing.T) *rig { return embeddedRig(t, false, "") }, reps: [2]int{1, 20}, inject: killInBurst(single)},
	{name: "redis-kill", rig: multiRig, reps: [2]int{1, 3}, inject: killRedis},
	{name: "redis-unreachable", rig: multiRig, reps: [2]int{1, 3}, outage: [2]time.Duration{shortOutage, redisOutage},
		inject: lasting(func(r *rig) breakable { return r.redisProxy })},
	{name: "redis-partition", rig: partitionRig, reps: [2]int{1, 3}, outage: [2]time.Duration{shortOutage, redisOutage},
		inject: lasting(func(r *rig) breakable { return r.link })},
	{name: "mongodb-kill", rig: multiRig, reps: [2]int{1, 3}, inject: killMongo},
	{name: "mongodb-unreachable", rig: multiRig, reps: [2]int{1, 3}, outage: [2]time.Duration{shortOutage, mongoOutage},
		inject: lasting(func(r *rig) breakable { return r.mongoProxy })},
	{name: "kafka-unreachable", rig: multiRig, reps: [2]int{1, 3}, outage: [2]time.Duration{shortOutage, kafkaOutage}, chatUp: true,
		inject: lasting(func(r *rig) breakable { return frozen{r.kafka} })},
	// A killed indexer's partitions can stay with it until its
	// consumer-group session times out (30 s): only then does the new one
	// get them.
	{name: "indexer-kill", rig: multiRig, reps: [2]int{1, 5}, chatUp: true, settle: time.Minute,
		inject: killInBurst(func(r *rig, _ int) *server { return r.indexer })},
	{name: "es-refusing", rig: multiRig, reps: [2]int{1, 3}, outage: [2]time.Duration{shortOutage, esOutage}, chatUp: true,
		inject: lasting(func(r *rig) breakable { return refusing{r.es} })},
	{name: "es-poison-event", rig: multiRig, reps: [2]int{1, 1}, chatUp: true, inject: poisonES},
	{name: "embedded-disk-full", rig: diskRig, reps: [2]int{1, 3}, outage: [2]time.Duration{shortOutage, diskOutage}, inject: fillEmbeddedDisk},
}

func single(r *rig, _ int) *server { return r.chats[0] }

// killInBurst kills a server with SIGKILL in the middle of a burst of
// sends, and starts it again at once.
func killInBurst(pick func(r *rig, round int) *server) injector {
	return func(r *rig, l *load, round int, _ time.Duration) (time.Time, error) {
		s := pick(r, round)
		go l.burstFor(time.Second)
		time.Sleep(200*time.Millisecond + rand.N(600*time.Millisecond))
		s.p.kill()
		killed := time.Now()
		return killed, s.start()
	}
}

// breakable is a part of the rig a fault cuts off for a while.
type breakable interface {
	cut() error
	heal() error
}

// lasting cuts a part off for the outage, then heals it.
func lasting(part func(r *rig) breakable) injector {
	return func(r *rig, _ *load, _ int, outage time.Duration) (time.Time, error) {
		p := part(r)
		if err := p.cut(); err != nil {
			return time.Now(), err
		}
		time.Sleep(outage)
		return time.Now(), p.heal()
	}
}

// frozen is a process stopped with SIGSTOP: its connections stay open and
// nothing answers, as when it is cut off from the network.
type frozen struct{ p *proc }

func (f frozen) cut() error  { f.p.signal(syscall.SIGSTOP); return nil }
func (f frozen) heal() error { f.p.signal(syscall.SIGCONT); return nil }

// refusing is the fake Elasticsearch answering every request with 503.
type refusing struct{ es *fakees.Server }

func (r refusing) cut() error  { r.es.SetMode(fakees.Down); return nil }
func (r refusing) heal() error { r.es.SetMode(fakees.Up); return nil }

func killRedis(r *rig, _ *load, _ int, _ time.Duration) (time.Time, error) {
	err := r.redis.Restart() // SIGKILL, then an empty Redis on the same port
	return time.Now(), err
}

// killMongo kills FerretDB with SIGKILL and starts it again on its data a
// moment later.
func killMongo(r *rig, _ *load, _ int, _ time.Duration) (time.Time, error) {
	r.mongo.kill()
	time.Sleep(time.Second)
	_, err := r.startMongo()
	return time.Now(), err
}

// poisonES puts an event Elasticsearch always refuses into a sender's
// partition, then lets the load go on a little: the events after it must
// reach the index all the same.
func poisonES(r *rig, _ *load, round int, _ time.Duration) (time.Time, error) {
	err := r.injectPoison(r.senders[round%len(r.senders)])
	time.Sleep(3 * time.Second)
	return time.Now(), err
}

// fillEmbeddedDisk fills the embedded server's disk, keeps it full for the
// outage, and frees it; meanwhile the server must say it is not ready.
func fillEmbeddedDisk(r *rig, _ *load, _ int, outage time.Duration) (time.Time, error) {
	free := sqlitetest.Fill(r.t, r.disk)
	s := r.chats[0]
	unready := false
	for end := time.Now().Add(outage); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		unready = unready || probe(httpClient, s.base+"/readyz") != nil
	}
	free()
	if !unready {
		return time.Now(), fmt.Errorf("/readyz of %s answered 200 all the %v the disk was full", s.name, outage)
	}
	return time.Now(), nil
}

// settings are the campaign's knobs, from the environment.
type settings struct {
	long   bool          // FAULTS_LONG=1: the long form
	only   []string      // FAULTS=a,b: those faults only
	reps   int           // FAULTS_REPS: rounds of each fault, instead of the form's
	outage time.Duration // FAULTS_OUTAGE: how long each lasting fault lasts, instead of the form's
}

func loadSettings(t *testing.T) settings {
	var s settings
	s.long = os.Getenv("FAULTS_LONG") != "" && os.Getenv("FAULTS_LONG") != "0"
	if v := os.Getenv("FAULTS"); v != "" {
		s.only = strings.Split(v, ",")
		for _, name := range s.only {
			if !knownFault(name) {
				t.Fatalf("FAULTS names %q, which is not a fault; the faults are %s", name, faultNames())
			}
		}
	}
	if v := os.Getenv("FAULTS_REPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("FAULTS_REPS=%q: want a positive number", v)
		}
		s.reps = n
	}
	if v := os.Getenv("FAULTS_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("FAULTS_OUTAGE=%q: want a positive duration such as 30s", v)
		}
		s.outage = d
	}
	return s
}

func knownFault(name string) bool {
	for _, f := range faults {
		if f.name == name {
			return true
		}
	}
	return false
}

func faultNames() string {
	names := make([]string, len(faults))
	for i, f := range faults {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

func (s settings) selected(f fault) bool {
	if len(s.only) == 0 {
		return true
	}
	for _, name := range s.only {
		if name == f.name {
			return true
		}
	}
	return false
}

// plan returns the rounds and the outage of f.
func (s settings) plan(f fault) (int, time.Duration) {
	form := 0
	if s.long {
		form = 1
	}
	reps, outage := f.reps[form], f.outage[form]
	if s.reps > 0 {
		reps = s.reps
	}
	if s.outage > 0 && outage > 0 {
		outage = s.outage
	}
	return reps, outage
}

func TestFaults(t *testing.T) {
	s := loadSettings(t)
	var rows []row
	for _, f := range faults {
		if !s.selected(f) {
			continue
		}
		reps, outage := s.plan(f)
		t.Run(f.name, func(t *testing.T) {
			rw := row{fault: f.name, outage: outage}
			defer func() { // also when the rig could not start
				rw.failed = t.Failed()
				rows = append(rows, rw)
			}()
			f.run(t, reps, &rw)
		})
	}
	form := "short"
	if s.long {
		form = "long"
	}
	table := reportTable(rows, form)
	t.Logf("fault campaign, %s form:\n%s", form, table)
	if path := os.Getenv("FAULTS_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(table), 0o600); err != nil {
			t.Error(err)
		}
	}
}

// run runs the rounds of f on a rig of its own and adds them up in rw.
func (f fault) run(t *testing.T, reps int, rw *row) {
	r := f.rig(t)
	if err := r.register(); err != nil {
		t.Fatal(err)
	}
	for round := range reps {
		v := r.round(f, round, rw.outage)
		rw.add(v)
		t.Logf("round %d: fault from %s to %s; %d sends, %d edits and %d reactions acknowledged, %d refused, %d message and update events checked, %d connections closed 1008, %d of %d room revs held to an exact count; recovered in %v, presence settled in %v",
			round+1, v.injected.Format("15:04:05.000"), v.healed.Format("15:04:05.000"), v.acked, v.edits, v.reactions, v.unavailable, v.events, v.evictions,
			v.revExact, v.revRooms,
			v.recovery.Round(time.Millisecond), v.presence.Round(time.Millisecond))
		if v.failed() {
			t.Errorf("%s, round %d of %d:\n  %s", f.name, round+1, reps, strings.Join(v.problems, "\n  "))
		}
	}
}

// register signs every user of the rig in once: DMs need both users
// registered.
func (r *rig) register() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, u := range append(append([]string(nil), r.senders...), r.watchers...) {
		if _, err := signIn(ctx, r.chats[0].base, u); err != nil {
			return err
		}
	}
	return nil
}

// round runs the load, injects the fault, measures the recovery, stops the
// senders and checks everything.
func (r *rig) round(f fault, round int, outage time.Duration) verdict {
	var v verdict
	started := time.Now()
	l := r.startLoad(round)
	defer l.end()
	if err := l.running(30 * time.Second); err != nil {
		v.problem("%v", err)
		return v
	}
	time.Sleep(1500 * time.Millisecond)
	indexWait := indexBound
	v.injected = time.Now()
	healed, err := f.inject(r, l, round, outage)
	v.healed = healed
	if err != nil {
		v.problem("injecting the fault: %v", err)
	} else {
		settle := f.settle
		if settle == 0 {
			settle = settleTime
		}
		v.recovery, err = r.recover(l, healed, settle+outage)
		if err != nil {
			v.problem("%v", err)
			indexWait = 0 // it had its chance
		}
	}
	time.Sleep(1500 * time.Millisecond) // traffic after recovery
	l.endSenders()
	r.past.add(l.h)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r.check(ctx, l, &v, indexWait)
	if refused := l.h.refusals(); f.chatUp && refused > 0 {
		// The stand-in MongoDB of a busy machine can stall past the
		// server's bound on a store call: such refusals are not the fault's.
		if store := r.storeRefusals(started); refused > store {
			v.problem("%d sends, edits or reactions refused during a fault the chat must ride out, %d of them for the message store (the fault from %s to %s; refusals: %s)",
				refused, store, v.injected.Format("15:04:05.000"), healed.Format("15:04:05.000"), strings.Join(l.h.firstRefusals, ", "))
		}
	}
	if v.noReply > 0 {
		v.problem("%d commands got no reply within %v", v.noReply, replyTimeout)
	}
	return v
}

// storeRefusals counts the sends, edits and reactions the instances refused
// since, by their logs, because the message store did not answer in time.
func (r *rig) storeRefusals(since time.Time) int {
	n := 0
	for _, s := range r.chats {
		for _, line := range strings.Split(s.p.output(), "\n") {
			var e struct {
				Time           time.Time
				Msg, Type, Err string
			}
			if json.Unmarshal([]byte(line), &e) == nil && !e.Time.Before(since) && storeRefusal(e.Msg, e.Type, e.Err) {
				n++
			}
		}
	}
	return n
}

// storeRefusal reports whether a log record of a chat server is a send,
// edit or reaction refused because the message store did not answer in
// time.
func storeRefusal(msg, typ, err string) bool {
	return msg == "command failed" && (typ == "send" || typ == "edit" || typ == "react") && strings.Contains(err, "mongodb")
}

// recover waits until every sender had a send acknowledged after healed and,
// where the indexer runs, the index holds every message acknowledged before
// it; it returns how long that took.
func (r *rig) recover(l *load, healed time.Time, bound time.Duration) (time.Duration, error) {
	before := l.h.acksBefore(healed)
	for {
		chat := l.h.ackedSince(healed, l.senderNames())
		var missing []string
		if r.es != nil {
			missing, _, _ = r.indexDiff(before, nil)
		}
		took := time.Since(healed)
		if chat && len(missing) == 0 {
			return took, nil
		}
		if took > bound {
			what := fmt.Sprintf("%d messages acknowledged before it still not in the index", len(missing))
			if !chat {
				what = "a sender had no send acknowledged since"
			}
			return took, fmt.Errorf("not recovered %v after the fault: %s", bound, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
