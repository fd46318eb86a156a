package service

import (
	_ "embed"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/chatcluster/chatcluster/chatserver"
)

// commonPasswordList holds, one a line after its '#' header, the passwords
// of at least 8 characters among the 10,000 most common ones (Mark
// Burnett's list, as github.com/ccojocar/zxcvbn-go v1.0.4 ships it, MIT
// licensed: the header has the notice).
//
//go:embed common-passwords.txt
var commonPasswordList string

var commonPasswords = sync.OnceValue(func() map[string]bool {
	set := map[string]bool{}
	for line := range strings.Lines(commonPasswordList) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			set[line] = true
		}
	}
	return set
})

// isCommonPassword reports whether password, in any case, is one of the
// most common passwords.
func isCommonPassword(password string) bool {
	return commonPasswords()[strings.ToLower(password)]
}

// newPasswordError tells why a new account of user id may not have
// password, or returns nil: its length is out of bounds, or, with
// refuseCommon, it is the user name or one of the most common passwords.
// Existing accounts keep the passwords they have.
func newPasswordError(id, password string, refuseCommon bool) error {
	switch n := utf8.RuneCountInString(password); {
	case n < chatserver.MinPasswordLen || n > chatserver.MaxPasswordLen:
		return chatserver.Errorf(chatserver.EBadRequest, "the password must have %d-%d characters", chatserver.MinPasswordLen, chatserver.MaxPasswordLen)
	case refuseCommon && strings.EqualFold(password, id):
		return chatserver.Errorf(chatserver.EBadRequest, "the password must not be the user name")
	case refuseCommon && isCommonPassword(password):
		return chatserver.Errorf(chatserver.EBadRequest, "this password is one of the most common ones: choose another")
	}
	return nil
}
