package bot

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/warroom/warroom/triage/model"
)

// MaxRoomName is the longest room name (Slack's limit; Discord allows 100).
const MaxRoomName = 80

var fillerWords = map[string]bool{
	"from": true, "against": true, "to": true, "on": true, "by": true, "via": true, "of": true,
	"the": true, "a": true, "an": true, "and": true, "in": true, "at": true, "with": true, "for": true,
	"host": true, "hosts": true, "sources": true, "other": true, "unknown": true,
}

// RoomName is the room name for an incident: "inc-0042-ssh-brute-force-203-0-113-45"
// ("drill-…" for drills): lowercase ASCII letters, digits and hyphens, at most
// MaxRoomName characters, the title's filler words and counts left out.
func RoomName(inc *model.Incident) string {
	prefix := "inc"
	if inc.Kind == model.KindDrill {
		prefix = "drill"
	}
	name := fmt.Sprintf("%s-%04d", prefix, inc.ID)
	words := strings.Fields(strings.ToLower(inc.Title))
	for i := 0; i < len(words); i++ {
		w := words[i]
		if isCount(w) && i+1 < len(words) && fillerWords[words[i+1]] {
			continue // "3 hosts", "2 other hosts", "20+ sources"
		}
		if fillerWords[w] {
			continue
		}
		if s := slug(w); s != "" {
			name += "-" + s
		}
	}
	return cutName(name, MaxRoomName)
}

func isCount(w string) bool {
	w = strings.TrimSuffix(w, "+")
	_, err := strconv.Atoi(w)
	return err == nil
}

// slug keeps ASCII letters and digits and turns every other run into one hyphen.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	return b.String()
}

// cutName shortens name to at most n bytes, at a hyphen where it can.
func cutName(name string, n int) string {
	if len(name) <= n {
		return name
	}
	cut := name[:n]
	if i := strings.LastIndexByte(cut, '-'); i > n/2 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, "-")
}

// UniqueName returns base, or base-2, base-3… (still at most MaxRoomName characters),
// the first that taken reports free.
func UniqueName(base string, taken func(string) (bool, error)) (string, error) {
	for i := 1; i < 1000; i++ {
		name := base
		if i > 1 {
			sfx := "-" + strconv.Itoa(i)
			name = strings.TrimRight(cutName(base, MaxRoomName-len(sfx)), "-") + sfx
		}
		t, err := taken(name)
		if err != nil {
			return "", err
		}
		if !t {
			return name, nil
		}
	}
	return "", fmt.Errorf("room name %q: 999 rooms already use it or a suffixed form", base)
}

func sortStrings(s []string) { sort.Strings(s) }
