package service

import (
	"testing"
	"unicode/utf8"

	"github.com/chatcluster/chatcluster/chatserver"
)

// The dummy hash must cost what a real one does: the parameters that
// hashPassword uses now.
func TestTheDummyHashHasTheParametersOfNewHashes(t *testing.T) {
	salt, key, mem, passes, threads, ok := parseHash(dummyHash)
	if !ok || len(salt) != 16 || len(key) != argonKeyLen || mem != argonMemory || passes != argonTime || threads != argonThreads {
		t.Fatalf("dummy hash: ok %v, salt %d bytes, key %d bytes, m=%d t=%d p=%d; want m=%d t=%d p=%d",
			ok, len(salt), len(key), mem, passes, threads, argonMemory, argonTime, argonThreads)
	}
	if checkPassword(dummyHash, "") {
		t.Fatal("the dummy hash matches the empty password")
	}
}

func TestTheCommonPasswordListHoldsOnlyPasswordsANewAccountCouldHave(t *testing.T) {
	list := commonPasswords()
	if len(list) < 1000 {
		t.Fatalf("%d common passwords", len(list))
	}
	for pw := range list {
		if n := utf8.RuneCountInString(pw); n < chatserver.MinPasswordLen || n > chatserver.MaxPasswordLen {
			t.Errorf("%q cannot be a password anyway", pw)
		}
	}
	for _, pw := range []string{"password", "12345678", "iloveyou", "trustno1"} {
		if !list[pw] {
			t.Errorf("%q is not in the list", pw)
		}
	}
}
