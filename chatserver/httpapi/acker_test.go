package httpapi

import (
	"errors"
	"slices"
	"testing"
	"testing/synctest"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/service"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

// heldSends makes n sends whose storage completes when done[i] is closed;
// cancels counts the contexts cancelled.
func heldSends(n int) (sends []pendingSend, done []chan struct{}, cancels *int) {
	cancels = new(int)
	for i := range n {
		ch := make(chan struct{})
		done = append(done, ch)
		sends = append(sends, pendingSend{
			cmd: wire.Command{ID: int64(i + 1), Type: wire.CmdSend},
			finish: func() (service.Sent, error) {
				<-ch
				return service.Sent{Message: chatserver.Message{Seq: int64(i + 1)}}, nil
			},
			cancel: func() { *cancels++ },
		})
	}
	return sends, done, cancels
}

func TestAckerAnswersSendsInTheOrderTheyStarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var answered []int64
		a := newAcker(func(cmd wire.Command, sent service.Sent, err error) {
			if err != nil || sent.Message.Seq != cmd.ID {
				t.Errorf("send %d answered with message %d, %v", cmd.ID, sent.Message.Seq, err)
			}
			answered = append(answered, cmd.ID)
		})
		sends, done, cancels := heldSends(3)
		for _, p := range sends {
			a.add(p)
		}
		for _, i := range []int{2, 1, 0} { // storage completes last to first
			close(done[i])
		}
		a.wait()
		if want := []int64{1, 2, 3}; !slices.Equal(answered, want) {
			t.Fatalf("answered %v, want %v", answered, want)
		}
		if *cancels != 3 {
			t.Fatalf("%d contexts cancelled, want 3", *cancels)
		}
	})
}

func TestAckerAnswersAFailedSendWithItsError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errStore := errors.New("store down")
		var got error
		a := newAcker(func(_ wire.Command, _ service.Sent, err error) { got = err })
		a.add(pendingSend{
			finish: func() (service.Sent, error) { return service.Sent{}, errStore },
			cancel: func() {},
		})
		a.wait()
		if !errors.Is(got, errStore) {
			t.Fatalf("answered with %v, want %v", got, errStore)
		}
	})
}

func TestAckerGoroutineEndsWhenNoSendIsLeftAndComesBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var answered int
		a := newAcker(func(wire.Command, service.Sent, error) { answered++ })
		for round := 1; round <= 2; round++ {
			sends, done, _ := heldSends(1)
			a.add(sends[0])
			close(done[0])
			a.wait() // returns only once the goroutine has ended
			if answered != round {
				t.Fatalf("round %d: %d sends answered", round, answered)
			}
		}
	})
}

func TestAckerHoldsUpTheReaderPastThePipelineDepth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAcker(func(wire.Command, service.Sent, error) {})
		// One send is with the acker's goroutine, the rest fill its channel.
		sends, done, _ := heldSends(maxPipelinedSends + 2)
		for _, p := range sends[:maxPipelinedSends+1] {
			a.add(p)
		}
		added := make(chan struct{})
		go func() { a.add(sends[maxPipelinedSends+1]); close(added) }()
		synctest.Wait()
		select {
		case <-added:
			t.Fatalf("a send past %d in flight was added", maxPipelinedSends)
		default:
		}
		for _, ch := range done {
			close(ch)
		}
		<-added
		a.wait()
	})
}
