// Package benchmeter measures what the benchmarks report besides wall time: the CPU
// time of the process, and the WAL bytes SQLite appends per commit. Benchmarks of
// several packages share it.
package benchmeter

import (
	"encoding/binary"
	"os"
)

// FrameBytes is one WAL frame: a 24-byte header and a 4 KiB page.
const FrameBytes = 24 + 4096

// WAL counts the commits it observes and the WAL frames they append, from the WAL
// index header in the -shm file (mxFrame at byte 16, the salts at byte 32, native byte
// order). Observe runs after each commit on the writer goroutine
// (store.Options.OnBatch): it sees every restart of the WAL (new salts), so it counts
// frames across restarts and checkpoints. Read Frames and Commits while the writer is
// idle.
type WAL struct {
	Frames, Commits int64

	f    *os.File
	mx   uint32
	salt uint64
	buf  [24]byte
}

// Attach starts reading the WAL index of the database at dbPath, once the store has
// opened it (the -shm file exists from then on). Until then Observe counts commits
// only.
func (m *WAL) Attach(dbPath string) error {
	f, err := os.Open(dbPath + "-shm")
	if err != nil {
		return err
	}
	m.f = f
	return nil
}

// Close closes the WAL index.
func (m *WAL) Close() error {
	if m.f == nil {
		return nil
	}
	return m.f.Close()
}

// Observe counts one commit and the frames it appended.
func (m *WAL) Observe() {
	m.Commits++
	if m.f == nil {
		return
	}
	if _, err := m.f.ReadAt(m.buf[:], 16); err != nil {
		return
	}
	mx := binary.NativeEndian.Uint32(m.buf[0:])
	salt := binary.NativeEndian.Uint64(m.buf[16:])
	if salt != m.salt || mx < m.mx {
		m.Frames += int64(mx) // the WAL started over in this transaction
	} else {
		m.Frames += int64(mx - m.mx)
	}
	m.mx, m.salt = mx, salt
}
