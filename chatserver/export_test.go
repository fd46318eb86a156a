package chatserver

// ReflectJSON encodes m's wire form through encoding/json's reflection, as
// the reference AppendJSON is held to.
func ReflectJSON(m Message) ([]byte, error) {
	j := messageJSON{ID: m.ID, Room: m.Room, Seq: m.Seq, From: m.From, Text: m.Text, TS: Timestamp(m.TS), CID: m.CID,
		Rev: m.Rev, ReplyTo: m.ReplyTo, Mentions: m.Mentions, Deleted: m.Deleted, Reactions: m.Reactions}
	if !m.EditedTS.IsZero() {
		j.EditedTS = Timestamp(m.EditedTS)
	}
	return MarshalJSON(j)
}
