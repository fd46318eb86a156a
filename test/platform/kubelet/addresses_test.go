package kubelet

import (
	"net/netip"
	"testing"
)

func TestAddressBook(t *testing.T) {
	b := newAddressBook(netip.MustParsePrefix("127.1.0.0/23"))
	first, _ := b.get("a")
	if again, _ := b.get("a"); again != first || first.String() != "127.1.0.1" {
		t.Fatalf("a: %v then %v, want 127.1.0.1 twice", first, again)
	}
	seen := map[netip.Addr]bool{first: true}
	for i := range 507 { // 2 × 254 usable addresses, one taken
		a, err := b.get(string(rune('b' + i)))
		if err != nil {
			t.Fatalf("address %d: %v", i, err)
		}
		if last := a.As4()[3]; last == 0 || last == 255 || seen[a] {
			t.Fatalf("address %d: %v (last byte 0 or 255, or reused)", i, a)
		}
		seen[a] = true
	}
	if a, err := b.get("one too many"); err == nil {
		t.Fatalf("got %v from an exhausted range", a)
	}
}
