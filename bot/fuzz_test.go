package bot

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzEscapeSlack checks that nothing survives EscapeSlack that Slack would read as
// a mention, a link or formatting.
func FuzzEscapeSlack(f *testing.F) {
	for _, s := range []string{"<!channel>", "@everyone <@U123|bob>", "*bold* _i_ ~s~ `c`", "> quote", "a & b", "\u202eevil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !utf8.ValidString(in) {
			return
		}
		out := EscapeSlack(in)
		rest := strings.NewReplacer("&amp;", "", "&lt;", "", "&gt;", "").Replace(out)
		if strings.ContainsAny(rest, "<>&") {
			t.Fatalf("EscapeSlack(%q) = %q leaves <, > or & bare", in, out)
		}
		r := []rune(out)
		for i, c := range r {
			if strings.ContainsRune("@*_~`", c) && (i+1 >= len(r) || string(r[i+1]) != zwsp) {
				t.Fatalf("EscapeSlack(%q) = %q: %q at %d is not broken up", in, out, c, i)
			}
			if (unicode.IsControl(c) && c != '\n' && c != '\t') || isInvisibleFormat(c) {
				t.Fatalf("EscapeSlack(%q) = %q keeps control character %U", in, out, c)
			}
		}
	})
}

// FuzzEscapeDiscord checks that every markdown character EscapeDiscord leaves is
// escaped and that no mention can form.
func FuzzEscapeDiscord(f *testing.F) {
	for _, s := range []string{"@everyone", "<@123> <@&4> <#5>", "**b** __u__ ||s||", "[x](https://e)", `\*`, "# h\n- i"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !utf8.ValidString(in) {
			return
		}
		out := EscapeDiscord(in)
		r := []rune(out)
		escaped := false
		for i, c := range r {
			if escaped {
				escaped = false
				continue
			}
			switch {
			case c == '\\':
				escaped = true
			case strings.ContainsRune("*_~`|>#-[]():", c):
				t.Fatalf("EscapeDiscord(%q) = %q: %q at %d is not escaped", in, out, c, i)
			case (c == '@' || c == '<') && (i+1 >= len(r) || string(r[i+1]) != zwsp):
				t.Fatalf("EscapeDiscord(%q) = %q: %q at %d can start a mention", in, out, c, i)
			case (unicode.IsControl(c) && c != '\n' && c != '\t') || isInvisibleFormat(c):
				t.Fatalf("EscapeDiscord(%q) = %q keeps control character %U", in, out, c)
			}
		}
		if escaped {
			t.Fatalf("EscapeDiscord(%q) = %q ends in a lone backslash", in, out)
		}
	})
}
