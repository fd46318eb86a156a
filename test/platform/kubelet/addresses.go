package kubelet

import (
	"fmt"
	"net/netip"
	"sync"
)

// addressBook hands out addresses from a range, one per key, stable for the
// kubelet's run and never reused for another key: a Service keeps its
// address while pods come and go, and a deleted pod's address does not turn
// up on a new one while something may still hold it.
type addressBook struct {
	mu     sync.Mutex
	prefix netip.Prefix
	next   netip.Addr
	byKey  map[string]netip.Addr
}

func newAddressBook(prefix netip.Prefix) *addressBook {
	prefix = prefix.Masked()
	return &addressBook{prefix: prefix, next: prefix.Addr(), byKey: map[string]netip.Addr{}}
}

// get returns key's address, taking the next free one the first time.
// Addresses whose last byte is 0 or 255 are skipped.
func (b *addressBook) get(key string) (netip.Addr, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if a, ok := b.byKey[key]; ok {
		return a, nil
	}
	for {
		b.next = b.next.Next()
		if !b.prefix.Contains(b.next) {
			return netip.Addr{}, fmt.Errorf("no address left in %s", b.prefix)
		}
		if last := b.next.As4()[3]; last != 0 && last != 255 {
			break
		}
	}
	b.byKey[key] = b.next
	return b.next, nil
}
