package httpapi

import (
	"context"
	"sync"

	"github.com/chatcluster/chatcluster/chatserver/service"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

// maxPipelinedSends is how many sends of one connection may wait for their
// storage at once; the reader stops reading while they all wait. Deep enough
// that a publisher at full speed keeps the store's group commits large.
const maxPipelinedSends = 256

// pendingSend is a started send waiting for its storage.
type pendingSend struct {
	cmd    wire.Command
	finish func() (service.Sent, error)
	cancel context.CancelFunc
}

// acker finishes a connection's sends in the order they started (the order
// the store completes them in) and has each answered. A client may pipeline
// many sends; one goroutine for all of them, started when a send comes and
// ended when none is left, wakes once per group commit, not once per send.
type acker struct {
	answer  func(cmd wire.Command, sent service.Sent, err error)
	sends   chan pendingSend
	mu      sync.Mutex
	running bool // the goroutine is started and has not seen sends empty
	wg      sync.WaitGroup
}

// newAcker returns an acker that hands each finished send to answer.
// A connection makes one at its first send: one that only listens never
// holds the 50-odd KiB of the channel.
func newAcker(answer func(cmd wire.Command, sent service.Sent, err error)) *acker {
	return &acker{answer: answer, sends: make(chan pendingSend, maxPipelinedSends)}
}

// add hands p to the acker. It blocks while maxPipelinedSends wait, which
// stops the reader that calls it.
func (a *acker) add(p pendingSend) {
	a.sends <- p
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.running {
		a.running = true
		a.wg.Add(1)
		go a.run()
	}
}

func (a *acker) run() {
	defer a.wg.Done()
	for {
		var p pendingSend
		select {
		case p = <-a.sends:
		default:
			a.mu.Lock()
			if len(a.sends) == 0 {
				a.running = false
				a.mu.Unlock()
				return
			}
			a.mu.Unlock()
			continue
		}
		sent, err := p.finish()
		a.answer(p.cmd, sent, err)
		p.cancel()
	}
}

// wait waits until every send added so far is answered. A nil acker has
// none.
func (a *acker) wait() {
	if a != nil {
		a.wg.Wait()
	}
}
