package httpapi

import (
	"runtime"
	"sync"
	"time"
)

// writers is the pool of goroutines that write the ready connections
// (writer.go): a connection is on it while its writer has the turn and is
// not waiting for its socket on a goroutine of its own.
type writers struct {
	mu      sync.Mutex
	ready   []*socketWriter // FIFO: ready[head:]
	head    int
	running int
	idle    int           // running workers waiting for work
	wake    chan struct{} // one token per idle worker woken
	max     int
	wg      sync.WaitGroup
}

func newWriters(n int) *writers {
	return &writers{max: n, wake: make(chan struct{}, n)}
}

// push makes w ready, waking or starting a worker if none is free.
func (p *writers) push(w *socketWriter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ready = append(p.ready, w)
	switch {
	case p.idle > 0:
		p.idle--
		p.wake <- struct{}{}
	case p.running < p.max:
		p.running++
		p.wg.Add(1)
		go p.work()
	}
}

func (p *writers) popLocked() *socketWriter {
	if p.head == len(p.ready) {
		return nil
	}
	w := p.ready[p.head]
	p.ready[p.head] = nil
	p.head++
	if p.head == len(p.ready) {
		p.ready, p.head = p.ready[:0], 0
	}
	return w
}

// work writes ready connections until none has been ready for lingerWait.
func (p *writers) work() {
	defer p.wg.Done()
	var buf []byte
	t := time.NewTimer(lingerWait)
	defer t.Stop()
	for n := 1; ; n++ {
		if n%yieldEvery == 0 {
			// Writing a broadcast to thousands of connections takes
			// milliseconds; the goroutines on the message path (readers,
			// the store's, the ackers) wait for this P meanwhile.
			runtime.Gosched()
		}
		p.mu.Lock()
		if w := p.popLocked(); w != nil {
			p.mu.Unlock()
			buf = w.writeReady(buf[:0])
			if cap(buf) > maxPooledBuffer {
				buf = nil
			}
			continue
		}
		p.idle++
		p.mu.Unlock()
		t.Reset(lingerWait)
		select {
		case <-p.wake: // push counted this worker out of idle
			t.Stop()
			continue
		case <-t.C:
		}
		p.mu.Lock()
		select {
		case <-p.wake: // woken as the wait ran out
			p.mu.Unlock()
			continue
		default:
		}
		p.idle--
		if p.head == len(p.ready) {
			p.running--
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
}

// yieldEvery is how many connections a writer writes between yields.
const yieldEvery = 16

// wait waits for the workers, which end lingerWait after the last write.
func (p *writers) wait() { p.wg.Wait() }

// lingerWait is how long a writer with nothing to write waits for more before
// it exits: a busy server keeps its writers, an idle one holds none.
const lingerWait = 100 * time.Millisecond

// maxPooledBuffer bounds the write buffer a writer keeps between writes.
const maxPooledBuffer = 256 << 10
