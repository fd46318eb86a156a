package chatserver_test

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/chatcluster/chatcluster/chatserver"
)

// The fuzz targets of user and room ids check the code against a model
// written from the contract's rules, character by character, rather than
// from the code's regular expressions.

// isUserID: ^[a-z0-9][a-z0-9.-]{0,31}$.
func isUserID(s string) bool {
	return isID(s, 32, ".-")
}

// isPublicRoomID: ^[a-z0-9][a-z0-9-]{0,63}$.
func isPublicRoomID(s string) bool {
	return isID(s, 64, "-")
}

// isID reports whether s has 1 to maxLen characters of a-z and 0-9, and of
// inner after the first.
func isID(s string, maxLen int, inner string) bool {
	if len(s) == 0 || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || strings.IndexByte(inner, c) < 0) {
			return false
		}
	}
	return true
}

// FuzzParseRoom checks room ids: a public id, or dm: and two distinct user
// ids sorted and joined with '_', is accepted as what it names; anything else
// is refused with bad_request. Group DM ids (gdm:…, contract version 2) are
// not rooms of this server: they are refused like any other invalid id.
func FuzzParseRoom(f *testing.F) {
	for _, id := range []string{
		"general", "r2-d2", "a", strings.Repeat("a", 64), strings.Repeat("a", 65), "-a", "A", "a_b", "a.b", "",
		"dm:alice_bob", "dm:bob_alice", "dm:alice_alice", "dm:alice_", "dm:_bob", "dm:alice", "dm:a.b_c-d",
		"dm:alice_bob_carol", "dm:Alice_bob", "dm:alice_bob\n", "dm:", "DM:alice_bob", "dm:alice__bob",
		"gdm:alice_bob_carol", "gdm:alice_bob", "dm:\u212aelvin_zed", "general\x00", "généra",
	} {
		f.Add(id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		room, err := chatserver.ParseRoom(id)
		rest, dm := strings.CutPrefix(id, chatserver.DMPrefix)
		a, b, _ := strings.Cut(rest, "_")
		grest, group := strings.CutPrefix(id, chatserver.GroupPrefix)
		members := strings.Split(grest, "_")
		switch {
		case dm && isUserID(a) && isUserID(b) && a < b:
			if err != nil || room.ID != id || room.Kind != chatserver.RoomKindDM || !slices.Equal(room.Members, []string{a, b}) {
				t.Fatalf("%q parsed as %+v, %v; want the DM of %s and %s", id, room, err, a, b)
			}
			if chatserver.DMRoomID(b, a) != id || !room.IsDM() || !room.HasMember(a) || !room.HasMember(b) ||
				room.HasMember(a+"x") || room.Other(a) != b || room.Other(b) != a {
				t.Fatalf("DM room %+v: members, other or id wrong", room)
			}
		case group && len(members) >= chatserver.MinGroupMembers && len(members) <= chatserver.MaxGroupMembers &&
			!slices.ContainsFunc(members, func(m string) bool { return !isUserID(m) }) && slices.IsSorted(members) && len(slices.Compact(slices.Clone(members))) == len(members):
			if err != nil || room.ID != id || room.Kind != chatserver.RoomKindGroup || !slices.Equal(room.Members, members) ||
				!room.IsPrivate() || room.IsDM() || !room.HasMember(members[0]) || room.HasMember(members[0]+"x") ||
				chatserver.GroupRoomID(reversed(members)...) != id {
				t.Fatalf("%q parsed as %+v, %v; want the group of %v", id, room, err, members)
			}
		case !dm && !group && isPublicRoomID(id):
			if err != nil || room.ID != id || room.Kind != chatserver.RoomKindPublic || room.Members != nil || room.IsDM() || room.IsPrivate() || !room.HasMember("anyone") {
				t.Fatalf("%q parsed as %+v, %v; want a public room", id, room, err)
			}
		default:
			if chatserver.ErrorCode(err) != chatserver.EBadRequest {
				t.Fatalf("%q parsed as %+v, %v; want %s", id, room, err, chatserver.EBadRequest)
			}
		}
	})
}

// FuzzDMRoomID checks that the DM room of two users is one id whatever
// their order, that it parses back to them, and that nobody has a DM with
// themselves.
func FuzzDMRoomID(f *testing.F) {
	f.Add("alice", "bob")
	f.Add("bob", "alice")
	f.Add("alice", "alice")
	f.Add("a", "a.b")
	f.Add("a-b", "a.b")
	f.Add("alice", "Bob")
	f.Fuzz(func(t *testing.T, a, b string) {
		if !isUserID(a) || !isUserID(b) {
			return // DMRoomID takes user ids; ParseRoom refuses what it would make of others
		}
		id := chatserver.DMRoomID(a, b)
		if other := chatserver.DMRoomID(b, a); other != id {
			t.Fatalf("DM of %s and %s is %q one way and %q the other", a, b, id, other)
		}
		room, err := chatserver.ParseRoom(id)
		if a == b {
			if chatserver.ErrorCode(err) != chatserver.EBadRequest {
				t.Fatalf("DM of %s with themselves parsed as %+v, %v", a, room, err)
			}
			return
		}
		want := []string{min(a, b), max(a, b)}
		if err != nil || !room.IsDM() || !slices.Equal(room.Members, want) {
			t.Fatalf("DM of %s and %s: %q parsed as %+v, %v", a, b, id, room, err)
		}
	})
}

// FuzzNormalizeUserID checks usernames: an ASCII one whose lower case is a
// user id becomes that id, and stays it; anything else is refused with
// bad_request, also letters that lower-case into ASCII (the Kelvin sign).
func FuzzNormalizeUserID(f *testing.F) {
	for _, name := range []string{
		"alice", "Alice", "ALICE.B-2", "a", strings.Repeat("a", 32), strings.Repeat("a", 33), "", ".a", "-a", "a_b",
		"a b", "al\u0130ce", "\u212aelvin", "ǅ", "a\x00", "\xff",
	} {
		f.Add(name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		id, err := chatserver.NormalizeUserID(name)
		lower := strings.ToLower(name)
		if !isUserID(lower) || strings.ContainsFunc(name, func(r rune) bool { return r >= utf8.RuneSelf }) {
			if chatserver.ErrorCode(err) != chatserver.EBadRequest || id != "" {
				t.Fatalf("%q normalized to %q, %v; want %s", name, id, err, chatserver.EBadRequest)
			}
			return
		}
		if err != nil || id != lower {
			t.Fatalf("%q normalized to %q, %v; want %q", name, id, err, lower)
		}
		if again, err := chatserver.NormalizeUserID(id); err != nil || again != id || !chatserver.ValidUserID(id) {
			t.Fatalf("user id %q normalized again to %q, %v", id, again, err)
		}
	})
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}
