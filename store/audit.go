package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"github.com/warroom/warroom/triage/model"
)

// auditHash chains an audit entry to the one before it:
//
//	hash = hex(sha256(prev_hash || canonical(entry)))
//
// prev_hash is the previous entry's hash as its 64 hex characters (empty for the first
// entry). canonical(entry) is, in order: seq as 8 bytes big-endian; at as unix
// nanoseconds (UTC), 8 bytes big-endian; then actor, action, subject and detail, each
// as its length in 8 bytes big-endian followed by its bytes. Length prefixes make the
// encoding unambiguous: no two different entries encode the same.
func auditHash(prev string, e *model.AuditEntry) string {
	h := sha256.New()
	var buf [256]byte
	b := append(buf[:0], prev...)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(e.At.UnixNano()))
	for _, f := range [...]string{e.Actor, e.Action, e.Subject} {
		b = binary.BigEndian.AppendUint64(b, uint64(len(f)))
		b = append(b, f...)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(len(e.Detail)))
	h.Write(b)
	h.Write(e.Detail)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}
