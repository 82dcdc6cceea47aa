package triage

import (
	"strconv"
	"strings"

	"github.com/warroom/warroom/triage/model"
)

// Title phrases, by category and by words in the rule that set the category. The
// phrases are also how a restarted engine recognises an incident's flavour from its
// stored title.
var flavours = []struct {
	cat    model.Category
	words  []string // all must appear in the lowercased rule
	phrase string
}{
	{model.CategoryBruteforce, []string{"ssh"}, "SSH brute force"},
	{model.CategoryBruteforce, []string{"rdp"}, "RDP brute force"},
	{model.CategoryBruteforce, []string{"ftp"}, "FTP brute force"},
	{model.CategoryBruteforce, nil, "Brute force"},
	{model.CategoryScan, []string{"ssh"}, "SSH scan"},
	{model.CategoryScan, []string{"ping"}, "Ping sweep"},
	{model.CategoryScan, nil, "Port scan"},
	{model.CategoryC2, nil, "C2 beaconing"},
	{model.CategoryLateral, []string{"smb"}, "Lateral movement over SMB"},
	{model.CategoryLateral, nil, "Lateral movement"},
	{model.CategoryExfil, []string{"dns", "tunnel"}, "DNS tunnelling"},
	{model.CategoryExfil, nil, "Data exfiltration"},
	{model.CategoryDoS, []string{"syn"}, "SYN flood"},
	{model.CategoryDoS, []string{"udp"}, "UDP flood"},
	{model.CategoryDoS, []string{"icmp"}, "ICMP flood"},
	{model.CategoryDoS, nil, "Denial of service"},
	{model.CategoryRouting, []string{"bgp"}, "BGP instability"},
	{model.CategoryRouting, nil, "Routing problem"},
	{model.CategoryPolicy, nil, "Policy violation"},
}

// flavourOf picks the title phrase for a category and rule; "" for category other,
// whose titles quote the rule itself.
func flavourOf(cat model.Category, rule string) string {
	r := strings.ToLower(rule)
	// DNS tunnelling is exfiltration whatever category a rule table gave it.
	if strings.Contains(r, "dns") && strings.Contains(r, "tunnel") {
		return "DNS tunnelling"
	}
	for _, f := range flavours {
		if f.cat != cat {
			continue
		}
		ok := true
		for _, w := range f.words {
			if !strings.Contains(r, w) {
				ok = false
				break
			}
		}
		if ok {
			return f.phrase
		}
	}
	return ""
}

// flavourFromTitle recognises the phrase a stored title starts with.
func flavourFromTitle(title string) string {
	best := ""
	for _, f := range flavours {
		if strings.HasPrefix(title, f.phrase) && len(f.phrase) > len(best) {
			best = f.phrase
		}
	}
	return best
}

func count(n int, full bool) string {
	s := strconv.Itoa(n)
	if full {
		s += "+"
	}
	return s
}

// side names one side of an incident: the party itself when there is one, else a count.
func side(n int, full bool, main, first, noun string) string {
	if n <= 1 && !full {
		if main != "" {
			return main
		}
		if first != "" {
			return first
		}
	}
	if n == 0 {
		return "unknown " + noun
	}
	return count(n, full) + " " + noun
}

// title builds an incident's title from its category, the rule that set it, and its
// parties.
func (e *Engine) title(inc *incident) string {
	x := &inc.extra
	ph := x.flavour
	if ph == "" {
		ph = strings.TrimSpace(x.rule)
		if len(ph) > 80 {
			ph = ph[:77] + "..."
		}
		if ph == "" {
			ph = "Alert"
		}
	}
	src := side(x.nSrc, x.fullSrc, x.mainSrc, x.firstSrc, "sources")
	dstHosts := side(x.nDst, x.fullDst, x.mainDst, x.firstDst, "hosts")
	oneSrc := x.nSrc <= 1 && !x.fullSrc
	oneDst := x.nDst <= 1 && !x.fullDst
	switch {
	case ph == "DNS tunnelling" || inc.m.Category == model.CategoryExfil:
		t := ph + " from " + side(x.nSrc, x.fullSrc, x.mainSrc, x.firstSrc, "hosts")
		if oneDst && x.nDst == 1 {
			t += " via " + dstHosts
		}
		return t
	}
	switch inc.m.Category {
	case model.CategoryDoS:
		return ph + " against " + dstHosts + " from " + src
	case model.CategoryBruteforce, model.CategoryScan:
		if !oneSrc && oneDst {
			return ph + " against " + dstHosts + " from " + src
		}
		return ph + " from " + src + " against " + dstHosts
	case model.CategoryC2:
		host := x.mainSrc
		if host == "" {
			host = x.firstSrc
		}
		if host == "" {
			return ph + " to " + dstHosts
		}
		t := ph + " from host " + host
		if !oneSrc {
			t += " and " + count(x.nSrc-1, x.fullSrc) + " other hosts"
		}
		return t
	case model.CategoryLateral:
		return ph + " from " + src + " to " + dstHosts
	case model.CategoryPolicy:
		return ph + " by " + side(x.nSrc, x.fullSrc, x.mainSrc, x.firstSrc, "hosts")
	}
	// routing, other: the rule and what it is about.
	about := x.mainDst
	if about == "" {
		about = x.mainSrc
	}
	if about == "" {
		about = x.firstDst
	}
	if about == "" {
		about = x.firstSrc
	}
	if about == "" {
		return ph
	}
	return ph + " on " + about
}
