package drill

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

// Stat summarises one measure over runs: how many have it, and its median, 90th
// percentile and mean, in seconds.
type Stat struct {
	N      int      `json:"n"`
	Median *Seconds `json:"median_s"`
	P90    *Seconds `json:"p90_s"`
	Mean   *Seconds `json:"mean_s"`
}

// Trend is the least-squares slope of TTR over the period.
type Trend struct {
	Points int `json:"points"`
	// PerMonth is how much TTR changes per 30 days, in seconds (negative: faster).
	PerMonth  Seconds `json:"per_month_s"`
	Direction string  `json:"direction"` // improving, worsening, flat
}

// GapSummary is the biggest hand-off gap of a group of runs.
type GapSummary struct {
	Name    string  `json:"name"`
	Where   string  `json:"where,omitempty"`
	Run     string  `json:"run"`
	Seconds Seconds `json:"seconds"`
	// MedianName is the kind of hand-off with the highest median over the runs, and
	// that median.
	MedianName    string  `json:"median_name"`
	MedianSeconds Seconds `json:"median_seconds"`
}

// Group is the summary of a set of runs (a scenario, a platform, real incidents).
type Group struct {
	Name       string      `json:"name"`
	Runs       int         `json:"runs"`
	Completed  int         `json:"completed"`
	TimedOut   int         `json:"timed_out"`
	Missed     int         `json:"missed"`
	Failed     int         `json:"failed"`
	TTA        Stat        `json:"tta"`
	TTP        Stat        `json:"ttp"`
	TTApproval Stat        `json:"tt_approval"`
	TTC        Stat        `json:"ttc"`
	TTR        Stat        `json:"ttr"`
	Trend      *Trend      `json:"trend"`
	BiggestGap *GapSummary `json:"biggest_gap"`
}

// Row is one run (or one real incident) in a report.
type Row struct {
	Run      string    `json:"run"`
	Scenario string    `json:"scenario"`
	Schedule string    `json:"schedule,omitempty"`
	Status   string    `json:"status"`
	At       time.Time `json:"at"`
	Measures *Measures `json:"measures,omitempty"`
}

// Report is the drill report over a period: per scenario, per platform, and the same
// measures for real incidents (MTTA, MTTC, MTTR).
type Report struct {
	Since     time.Time `json:"since"`
	Until     time.Time `json:"until"`
	Scenario  string    `json:"scenario,omitempty"`
	Scenarios []Group   `json:"scenarios"`
	Platforms []Group   `json:"platforms"`
	Real      Group     `json:"real_incidents"`
	Runs      []Row     `json:"runs"`
}

// ReportSource is what a report reads.
type ReportSource interface {
	DrillRuns(ctx context.Context, f store.DrillFilter) ([]*store.DrillRun, error)
	Incidents(ctx context.Context, f store.IncidentFilter) ([]*model.Incident, string, error)
	Actions(ctx context.Context, incidentID int64) ([]*model.Action, error)
	Timeline(ctx context.Context, incidentID int64) ([]model.TimelineEvent, error)
}

// Load builds the report of the runs since since (of one scenario when scenario is
// not empty) and of the real incidents opened since then, up to until.
func Load(ctx context.Context, src ReportSource, since, until time.Time, scenario string) (*Report, error) {
	runs, err := src.DrillRuns(ctx, store.DrillFilter{Since: since, Scenario: scenario, Limit: 100000})
	if err != nil {
		return nil, err
	}
	var real []Row
	cursor := ""
	for {
		list, next, err := src.Incidents(ctx, store.IncidentFilter{Kind: model.KindNormal, Limit: 500, Cursor: cursor})
		if err != nil {
			return nil, fmt.Errorf("read real incidents: %w", err)
		}
		done := next == ""
		for _, inc := range list {
			if inc.OpenedAt.Before(since) {
				done = true // newest first: the rest are older
				break
			}
			if inc.OpenedAt.After(until) || inc.Status == model.StatusMerged {
				continue
			}
			acts, err := src.Actions(ctx, inc.ID)
			if err != nil {
				return nil, err
			}
			tl, err := src.Timeline(ctx, inc.ID)
			if err != nil {
				return nil, err
			}
			m := Measure(inc, acts, tl)
			real = append(real, Row{Run: inc.Number, Status: string(inc.Status), At: inc.OpenedAt.UTC(), Measures: &m})
		}
		if done {
			break
		}
		cursor = next
	}
	return Build(runs, real, since, until, scenario), nil
}

// Build computes a report from drill runs and real-incident rows. It reads no clock.
func Build(runs []*store.DrillRun, real []Row, since, until time.Time, scenario string) *Report {
	rep := &Report{Since: since.UTC(), Until: until.UTC(), Scenario: scenario, Scenarios: []Group{}, Platforms: []Group{}, Runs: []Row{}}
	byScenario := map[string][]Row{}
	byPlatform := map[string][]Row{}
	for _, r := range runs {
		at := r.StartedAt
		if at == nil {
			at = r.ScheduledAt
		}
		row := Row{Run: r.ID, Scenario: r.Scenario, Schedule: r.Schedule, Status: string(r.Status)}
		if at != nil {
			row.At = at.UTC()
		}
		if len(r.Measures) > 0 {
			var m Measures
			if json.Unmarshal(r.Measures, &m) == nil {
				row.Measures = &m
			}
		}
		rep.Runs = append(rep.Runs, row)
		byScenario[r.Scenario] = append(byScenario[r.Scenario], row)
		plats := []string{"none"}
		if row.Measures != nil && len(row.Measures.Platforms) > 0 {
			plats = row.Measures.Platforms
		}
		if r.Status != store.DrillMissed {
			for _, p := range plats {
				byPlatform[p] = append(byPlatform[p], row)
			}
		}
	}
	sort.SliceStable(rep.Runs, func(i, j int) bool { return rep.Runs[i].At.Before(rep.Runs[j].At) })
	for _, name := range keys(byScenario) {
		rep.Scenarios = append(rep.Scenarios, summarize(name, byScenario[name]))
	}
	for _, name := range keys(byPlatform) {
		rep.Platforms = append(rep.Platforms, summarize(name, byPlatform[name]))
	}
	rep.Real = summarize("real incidents", real)
	return rep
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func summarize(name string, rows []Row) Group {
	g := Group{Name: name, Runs: len(rows)}
	var tta, ttp, tap, ttc, ttr []Seconds
	var pts [][2]float64
	gapsByName := map[string][]Seconds{}
	for _, r := range rows {
		switch r.Status {
		case string(store.DrillCompleted), string(model.StatusResolved):
			g.Completed++
		case string(store.DrillTimedOut):
			g.TimedOut++
		case string(store.DrillMissed):
			g.Missed++
		case string(store.DrillFailed):
			g.Failed++
		}
		m := r.Measures
		if m == nil {
			continue
		}
		add := func(dst *[]Seconds, v *Seconds) {
			if v != nil {
				*dst = append(*dst, *v)
			}
		}
		add(&tta, m.TTA)
		add(&ttp, m.TTP)
		add(&tap, m.TTApproval)
		add(&ttc, m.TTC)
		add(&ttr, m.TTR)
		if m.TTR != nil {
			pts = append(pts, [2]float64{float64(r.At.Unix()), *m.TTR})
		}
		for _, gp := range m.Gaps {
			gapsByName[gp.Name] = append(gapsByName[gp.Name], gp.Seconds)
			if g.BiggestGap == nil || gp.Seconds > g.BiggestGap.Seconds {
				g.BiggestGap = &GapSummary{Name: gp.Name, Where: gp.Where, Run: r.Run, Seconds: gp.Seconds}
			}
		}
	}
	if g.BiggestGap != nil {
		for _, n := range keys(gapsByName) {
			med := quantile(gapsByName[n], 0.5)
			if g.BiggestGap.MedianName == "" || med > g.BiggestGap.MedianSeconds {
				g.BiggestGap.MedianName, g.BiggestGap.MedianSeconds = n, med
			}
		}
	}
	g.TTA, g.TTP, g.TTApproval, g.TTC, g.TTR = stat(tta), stat(ttp), stat(tap), stat(ttc), stat(ttr)
	g.Trend = trend(pts)
	return g
}

func stat(v []Seconds) Stat {
	s := Stat{N: len(v)}
	if len(v) == 0 {
		return s
	}
	med, p90 := quantile(v, 0.5), quantile(v, 0.9)
	var sum float64
	for _, x := range v {
		sum += x
	}
	mean := sum / float64(len(v))
	s.Median, s.P90, s.Mean = &med, &p90, &mean
	return s
}

// quantile is the nearest-rank quantile: the smallest value with at least q of the
// values at or below it.
func quantile(v []Seconds, q float64) Seconds {
	s := append([]Seconds(nil), v...)
	sort.Float64s(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(i, 0)]
}

func trend(pts [][2]float64) *Trend {
	if len(pts) < 2 {
		return nil
	}
	var sx, sy float64
	for _, p := range pts {
		sx += p[0]
		sy += p[1]
	}
	n := float64(len(pts))
	mx, my := sx/n, sy/n
	var num, den float64
	for _, p := range pts {
		num += (p[0] - mx) * (p[1] - my)
		den += (p[0] - mx) * (p[0] - mx)
	}
	if den == 0 {
		return nil
	}
	per := math.Round(num/den*30*24*3600*10) / 10
	t := &Trend{Points: len(pts), PerMonth: per, Direction: "flat"}
	switch {
	case per < -0.05*my:
		t.Direction = "improving"
	case per > 0.05*my:
		t.Direction = "worsening"
	}
	return t
}

// Dur formats seconds for people: 45s, 12m30s, 2h05m.
func Dur(s *Seconds) string {
	if s == nil {
		return "-"
	}
	d := time.Duration(math.Round(*s)) * time.Second
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

func durV(s Seconds) string { return Dur(&s) }

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "Drill report %s to %s", r.Since.Format("2006-01-02"), r.Until.Format("2006-01-02"))
	if r.Scenario != "" {
		fmt.Fprintf(w, ", scenario %s", r.Scenario)
	}
	fmt.Fprintln(w)
	section := func(title string, groups []Group) {
		fmt.Fprintf(w, "\n%s\n", title)
		if len(groups) == 0 {
			fmt.Fprintln(w, "  (none)")
			return
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  name\truns\tdone\ttimed out\tmissed\tTTA med/p90\tproposal med\tapproval med\tTTC med/p90\tTTR med/p90\ttrend (TTR)")
		for _, g := range groups {
			tr := "-"
			if g.Trend != nil {
				tr = fmt.Sprintf("%s (%+.0fs/30d)", g.Trend.Direction, g.Trend.PerMonth)
			}
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%s/%s\t%s\t%s\t%s/%s\t%s/%s\t%s\n", g.Name, g.Runs, g.Completed, g.TimedOut, g.Missed,
				Dur(g.TTA.Median), Dur(g.TTA.P90), Dur(g.TTP.Median), Dur(g.TTApproval.Median), Dur(g.TTC.Median), Dur(g.TTC.P90),
				Dur(g.TTR.Median), Dur(g.TTR.P90), tr)
		}
		tw.Flush()
		for _, g := range groups {
			if b := g.BiggestGap; b != nil {
				where := ""
				if b.Where != "" {
					where = " at " + b.Where
				}
				fmt.Fprintf(w, "  %s: biggest hand-off gap %s (%s%s, run %s); typically %s (median %s)\n",
					g.Name, durV(b.Seconds), b.Name, where, b.Run, b.MedianName, durV(b.MedianSeconds))
			}
		}
	}
	section("Per scenario", r.Scenarios)
	section("Per platform", r.Platforms)
	fmt.Fprintln(w, "\nReal incidents")
	g := r.Real
	fmt.Fprintf(w, "  %d incidents, %d resolved: MTTA %s, MTTC %s, MTTR %s (median TTA %s, TTC %s, TTR %s; p90 TTR %s)\n",
		g.Runs, g.Completed, Dur(g.TTA.Mean), Dur(g.TTC.Mean), Dur(g.TTR.Mean), Dur(g.TTA.Median), Dur(g.TTC.Median),
		Dur(g.TTR.Median), Dur(g.TTR.P90))
	var missed []Row
	for _, row := range r.Runs {
		if row.Status == string(store.DrillMissed) {
			missed = append(missed, row)
		}
	}
	if len(missed) > 0 {
		fmt.Fprintln(w, "\nMissed drills (warroom was not running at the scheduled time, or stopped before the run began)")
		for _, row := range missed {
			fmt.Fprintf(w, "  %s  %s (schedule %s)\n", row.At.Format(time.RFC3339), row.Scenario, row.Schedule)
		}
	}
	return nil
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func csvSecs(s *Seconds) string {
	if s == nil {
		return ""
	}
	return strconv.FormatFloat(*s, 'f', -1, 64)
}

// WriteCSV writes one line per run: its measures in seconds, the biggest gap and the
// participants.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"run", "scenario", "schedule", "status", "at", "incident", "tta_s", "ttp_s", "tt_approval_s", "ttc_s",
		"ttr_s", "biggest_gap", "biggest_gap_where", "biggest_gap_s", "participants"})
	for _, row := range r.Runs {
		rec := []string{row.Run, row.Scenario, row.Schedule, row.Status, row.At.Format(time.RFC3339), "", "", "", "", "", "", "", "", "", ""}
		if m := row.Measures; m != nil {
			rec[5], rec[6], rec[7], rec[8], rec[9], rec[10] = m.Incident, csvSecs(m.TTA), csvSecs(m.TTP), csvSecs(m.TTApproval),
				csvSecs(m.TTC), csvSecs(m.TTR)
			if g, ok := m.Biggest(); ok {
				rec[11], rec[12], rec[13] = g.Name, g.Where, strconv.FormatFloat(g.Seconds, 'f', -1, 64)
			}
			rec[14] = strings.Join(m.Participants, " ")
		}
		cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}

// Write writes the report in format text, json, csv or png.
func (r *Report) Write(w io.Writer, format string) error {
	switch format {
	case "", "text":
		return r.WriteText(w)
	case "json":
		return r.WriteJSON(w)
	case "csv":
		return r.WriteCSV(w)
	case "png":
		return r.WritePNG(w)
	}
	return fmt.Errorf("format %q: want text, json, csv or png", format)
}

// RunSummary is the few lines posted in a drill's rooms when it ends.
func RunSummary(run *store.DrillRun, m *Measures) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Drill %s (%s) %s.", run.ID, run.Scenario, strings.ReplaceAll(string(run.Status), "_", " "))
	if run.Error != "" {
		fmt.Fprintf(&b, " %s.", run.Error)
	}
	if m != nil {
		fmt.Fprintf(&b, "\nTime to acknowledge %s · first proposal %s · approval %s · containment %s · resolve %s.",
			Dur(m.TTA), Dur(m.TTP), Dur(m.TTApproval), Dur(m.TTC), Dur(m.TTR))
		if g, ok := m.Biggest(); ok {
			where := ""
			if g.Where != "" {
				where = " at " + g.Where
			}
			fmt.Fprintf(&b, "\nBiggest hand-off gap: %s (%s%s).", durV(g.Seconds), g.Name, where)
		}
		if len(m.Participants) > 0 {
			fmt.Fprintf(&b, "\nParticipants: %s.", strings.Join(m.Participants, ", "))
		}
	}
	b.WriteString("\nThe drill report and its charts: /chat/drills")
	return b.String()
}
