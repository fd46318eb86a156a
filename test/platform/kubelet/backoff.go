package kubelet

import "time"

// backoff is the kubelet's restart back-off for one container (its
// flowcontrol.Backoff): the first start is immediate; each later one waits
// until the current delay has passed since the previous start, and the delay
// doubles up to max. After 2*max without a start it begins again.
type backoff struct {
	initial, max time.Duration
	cur          time.Duration
	last         time.Time
}

// wait is how long to wait before starting again at now.
func (b *backoff) wait(now time.Time) time.Duration {
	if b.cur == 0 || now.Sub(b.last) > 2*b.max {
		return 0
	}
	return max(0, b.last.Add(b.cur).Sub(now))
}

// started records a start at now and lengthens the next delay.
func (b *backoff) started(now time.Time) {
	if b.cur == 0 || now.Sub(b.last) > 2*b.max {
		b.cur = b.initial
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	b.last = now
}
